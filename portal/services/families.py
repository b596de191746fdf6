"""Families: the front desk grants proxy access, an adult patient invites their own caregiver, and a patient
sees what each proxy did on their behalf.

The grants themselves (rules, refusals, audit) live in `portal.services.proxies`; this module finds the
people and patients a screen names, creates accounts for proxies who have none, and runs invitations.
An invitation is a single-use code (kind "invitation") linking the patient, the invitee's account and the
patient who sent it; the mail carries only the link, never anything about the patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, func, or_, select

from portal.config import Settings
from portal.models.access import ProxyGrant
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.identity import OneTimeCode, Passkey
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import audit, mail
from portal.services.access import AgeRules, age_on
from portal.services.errors import Refused
from portal.services.identity import codes, people
from portal.services.proxies import GrantRefused, add_grant, end_grant

INVITATION_KIND = "invitation"
INVITATION_DAYS = 14
INVITATION_LENGTH = 24
MAX_MATCHES = 20

INVITATION_SUBJECT = "You have been invited to a health portal"
INVITATION_BODY = (
    "You have been invited to help someone with their health portal.\n\n"
    "Open this link to accept. It works once, for {days} days:\n{link}\n\n"
    "If you were not expecting this, you can ignore this message.\n"
)
ENROLMENT_SUBJECT = "Your health portal account"
ENROLMENT_BODY = (
    "The clinic has set up a health portal account for you.\n\n"
    "Open this link to create your passkey. It works once, for {hours} hours:\n{link}\n\n"
    "If you were not expecting this, please call the clinic.\n"
)


# -------------------------------------------------------------------------------- the front desk


def find_patients(
    session: Session, *, fhir_id: str = "", name: str = "", birth_date: date | None = None
) -> list[Patient]:
    """Patients by their EHR id, or by every word of a name together with the exact date of birth."""
    if fhir_id:
        return list(session.exec(select(Patient).where(Patient.fhir_id == fhir_id)).all())
    words = name.lower().split()
    if not words or birth_date is None:
        return []
    query = select(Patient).where(Patient.birth_date == birth_date)
    for word in words[:5]:
        pattern = f"%{word}%"
        query = query.where(
            or_(func.lower(Patient.given_name).like(pattern), func.lower(Patient.family_name).like(pattern))
        )
    return list(session.exec(query.order_by(col(Patient.family_name)).limit(MAX_MATCHES)).all())


@dataclass(frozen=True)
class Granted:
    grant: ProxyGrant
    proxy: Person
    enrolment_link: str | None  # set when the proxy had no account and one was made


def grant_by_email(
    session: Session,
    settings: Settings,
    *,
    patient: Patient,
    email: str,
    name: str = "",
    relationship: str,
    level: str = "full",
    starts_on: date,
    ends_on: date | None = None,
    beyond_majority: bool = False,
    granted_by: Person | None,
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
) -> Granted:
    """Grant access to the account with this email, making the account (and mailing its enrolment link)
    when there is none. Raises GrantRefused (and the caller's transaction rolls back) when it cannot."""
    try:
        address = people.clean_email(email)
    except Refused:
        raise GrantRefused("that is not an email address") from None
    proxy = session.exec(select(Person).where(Person.email == address)).first()
    link = None
    if proxy is None:
        proxy, link = people.add_person(session, settings, email=address, display_name=name)
        send_enrolment(session, to=address, link=link)
    grant = add_grant(
        session,
        proxy=proxy,
        patient=patient,
        relationship=relationship,
        level=level,
        starts_on=starts_on,
        ends_on=ends_on,
        beyond_majority=beyond_majority,
        granted_by=granted_by,
        today=today,
        rules=rules,
        where=where,
    )
    return Granted(grant, proxy, link)


def send_enrolment(session: Session, *, to: str, link: str) -> None:
    mail.enqueue(
        session,
        to=to,
        subject=ENROLMENT_SUBJECT,
        body=ENROLMENT_BODY.format(hours=people.ENROLMENT_HOURS, link=link),
    )


def grant_of(session: Session, patient: Patient, grant_public_id: str) -> ProxyGrant | None:
    """The grant with this public id, if it is one of this patient's; None otherwise."""
    return session.exec(
        select(ProxyGrant).where(ProxyGrant.public_id == grant_public_id, ProxyGrant.patient_id == patient.id)
    ).first()


def end_grant_of(
    session: Session,
    patient: Patient,
    grant_public_id: str,
    *,
    ended_by: Person,
    where: Provenance | None = None,
) -> ProxyGrant | None:
    grant = grant_of(session, patient, grant_public_id)
    if grant is None:
        return None
    return end_grant(session, grant, patient=patient, ended_by=ended_by, where=where)


# ------------------------------------------------------------------------------------ invitations


def is_adult(patient: Patient, *, today: date, rules: AgeRules) -> bool:
    return patient.birth_date is not None and age_on(patient.birth_date, today) >= rules.adult_at_age


def invite(
    session: Session,
    settings: Settings,
    *,
    patient: Patient,
    inviter: Person,
    email: str,
    name: str = "",
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
) -> str:
    """Mail a single-use invitation to help `patient`; the invitee accepts with their passkey."""
    if not is_adult(patient, today=today, rules=rules):
        raise GrantRefused("Only adult patients can invite someone to help them.")
    try:
        address = people.clean_email(email)
    except Refused:
        raise GrantRefused("Please enter an email address, like name@example.com.") from None
    if inviter.email is not None and address == inviter.email:
        raise GrantRefused("Please enter the email address of the person you want to invite.")
    invitee = session.exec(select(Person).where(Person.email == address)).first()
    if invitee is None:
        invitee = people.create_person(session, email=address, display_name=name)
    token = codes.issue_code(
        session,
        kind=INVITATION_KIND,
        length=INVITATION_LENGTH,
        lifetime=timedelta(days=INVITATION_DAYS),
        patient_id=patient.id,
        person_id=invitee.id,
        issued_by_person_id=inviter.id,
    )
    link = f"{settings.origin}/invitation/{token}"
    mail.enqueue(
        session,
        to=address,
        subject=INVITATION_SUBJECT,
        body=INVITATION_BODY.format(days=INVITATION_DAYS, link=link),
    )
    w = where or Provenance()
    audit.record(
        session,
        action="create",
        actor_person_id=inviter.id,
        actor_role="patient",
        patient_id=patient.id,
        resource_type="proxy_invitation",
        resource_id=invitee.public_id,
        provenance=w,
    )
    return link


@dataclass(frozen=True)
class Invitation:
    code: OneTimeCode
    patient: Patient
    invitee: Person
    inviter: Person | None
    has_passkey: bool


def find_invitation(session: Session, token: str) -> Invitation | None:
    """The live invitation this link names, or None (used, expired, or never issued)."""
    code = codes.find_code(session, kind=INVITATION_KIND, typed=token[:64])
    if code is None or code.patient_id is None or code.person_id is None:
        return None
    patient = session.get(Patient, code.patient_id)
    invitee = session.get(Person, code.person_id)
    if patient is None or invitee is None or invitee.disabled:
        return None
    inviter = session.get(Person, code.issued_by_person_id) if code.issued_by_person_id else None
    has_passkey = session.exec(select(Passkey.id).where(Passkey.person_id == invitee.id)).first() is not None
    return Invitation(code, patient, invitee, inviter, has_passkey)


@dataclass(frozen=True)
class Accepted:
    grant: ProxyGrant
    enrolment_link: str | None  # for an invitee with no passkey yet: where to create one


NOT_YOURS = "This invitation was sent to someone else. Sign out, then open the link again."
SIGN_IN_FIRST = "Please sign in with your passkey first, then open the link again."


def accept_invitation(
    session: Session,
    settings: Settings,
    *,
    token: str,
    person: Person | None,
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
) -> Accepted | None:
    """Accept an invitation: the grant (caregiver, full) is made and the link stops working.

    A signed-in invitee accepts as themself. Someone not signed in may accept only for an invitee who has
    no passkey yet: holding the mailed link proves the address, and they then create their passkey.
    Returns None for a link that does not work; raises GrantRefused with a message to show otherwise.
    """
    invitation = find_invitation(session, token)
    if invitation is None:
        return None
    if person is not None and person.id != invitation.invitee.id:
        raise GrantRefused(NOT_YOURS)
    if person is None and invitation.has_passkey:
        raise GrantRefused(SIGN_IN_FIRST)
    grant = add_grant(
        session,
        proxy=invitation.invitee,
        patient=invitation.patient,
        relationship="caregiver",
        level="full",
        starts_on=today,
        granted_by=invitation.inviter,
        today=today,
        rules=rules,
        where=where,
    )
    invitation.code.used_at = utcnow()
    session.add(invitation.code)
    link = None
    if person is None:
        link = people.enrolment_link(session, settings, person=invitation.invitee)
    return Accepted(grant, link)


# ------------------------------------------------------------------------ what proxies did for me


@dataclass(frozen=True)
class ProxyAction:
    occurred_at: datetime
    proxy_name: str
    action: str
    resource_type: str | None


def proxy_actions(session: Session, patient: Patient, *, limit: int = 100) -> list[ProxyAction]:
    """What people acting for this patient did in their record, newest first (allowed actions only)."""
    rows = session.exec(
        select(AuditEvent, Person.display_name)
        .join(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .where(
            col(AuditEvent.patient_id) == patient.id,
            col(AuditEvent.actor_role) == "proxy",
            col(AuditEvent.outcome) == "allowed",
        )
        .order_by(col(AuditEvent.seq).desc())
        .limit(limit)
    ).all()
    return [ProxyAction(event.occurred_at, name, event.action, event.resource_type) for event, name in rows]
