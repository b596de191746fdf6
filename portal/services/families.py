"""Families: the clinic grants proxy access, an adult patient invites their own caregiver, and a patient
sees who holds access and what each proxy did on their behalf.

Every function that reads or changes a patient's grants takes the `PatientScope` the access service
opened (views pass them to `access.read` or `access.act`), and returns None when the scope is not the
kind the screen is for, so that the page answers exactly as for a missing patient. The grants themselves
live in `portal.services.proxies`. An invitation is a single-use code (kind "invitation") linking the
patient, the invitee's account and the patient who sent it; the mail carries only the link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from portal.config import Settings
from portal.models.access import ProxyGrant
from portal.models.audit import AuditEvent
from portal.models.base import utcnow
from portal.models.identity import OneTimeCode, Passkey
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import access, mail, proxies
from portal.services.access import AgeRules, Area, Look, PatientScope
from portal.services.errors import Refused
from portal.services.identity import codes, people

INVITATION_KIND = "invitation"
INVITATION_DAYS = 14
INVITATION_LENGTH = 24
MAX_EMAIL = 320

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

# What the audit log calls each change (the views' Looks and the invitation's acceptance use these).
GRANT = Look(Area.PROXIES, "proxy_grant", action="grant-proxy")
INVITATION = Look(Area.PROXIES, "proxy_invitation", action="create")


def end_look(grant_public_id: str) -> Look:
    return Look(Area.PROXIES, "proxy_grant", grant_public_id, action="revoke-proxy")


def email_address(typed: str) -> str:
    """The address as stored (trimmed, lower case); Refused("bad_email") when it cannot be one."""
    address = typed.strip().lower()
    if "@" not in address or " " in address or len(address) > MAX_EMAIL:
        raise Refused("bad_email")
    return address


# ------------------------------------------------------------------------------ the clinic's screen


def clinic_holders(
    session: Session, scope: PatientScope, *, today: date, rules: AgeRules
) -> list[proxies.Holder] | None:
    """Who holds access to the patient, for the clinic's proxy screen; None for anyone but the clinic."""
    if not access.may_manage_proxies_for_clinic(scope):
        return None  # the patient's own page is /p/{patient}/access
    return proxies.holders(session, scope, today=today, rules=rules)


@dataclass(frozen=True)
class Granted:
    grant: ProxyGrant
    proxy: Person
    enrolment_link: str | None  # set when the proxy had no account and one was made

    @property
    def public_id(self) -> str:
        """The grant's id, for the audit event of the change."""
        return self.grant.public_id


def grant_by_email(
    session: Session,
    scope: PatientScope,
    settings: Settings,
    *,
    email: str,
    name: str = "",
    relationship: str,
    level: str = "full",
    starts_on: date,
    ends_on: date | None = None,
    beyond_majority: bool = False,
    today: date,
    rules: AgeRules,
) -> Granted | None:
    """The clinic grants access to the account with this email, making the account (and mailing its
    enrolment link) when there is none. Raises Refused when it cannot; `access.act` then undoes it all."""
    if not access.may_manage_proxies_for_clinic(scope):
        return None
    address = email_address(email)
    proxy = session.exec(select(Person).where(Person.email == address)).first()
    link = None
    if proxy is None:
        proxy, link = people.add_person(session, settings, email=address, display_name=name)
        send_enrolment(session, to=address, link=link)
    grant = proxies.add_grant(
        session,
        scope,
        proxy=proxy,
        relationship=relationship,
        level=level,
        starts_on=starts_on,
        ends_on=ends_on,
        beyond_majority=beyond_majority,
        today=today,
        rules=rules,
    )
    return Granted(grant, proxy, link)


def send_enrolment(session: Session, *, to: str, link: str) -> None:
    mail.enqueue(
        session,
        to=to,
        subject=ENROLMENT_SUBJECT,
        body=ENROLMENT_BODY.format(hours=people.ENROLMENT_HOURS, link=link),
    )


def clinic_end_grant(
    session: Session, scope: PatientScope, grant_public_id: str, *, today: date, rules: AgeRules
) -> ProxyGrant | None:
    """The clinic ends one of the patient's grants (its screen asks that the identity was checked)."""
    if not access.may_manage_proxies_for_clinic(scope):
        return None
    return proxies.end_grant(session, scope, grant_public_id, today=today, rules=rules)


# -------------------------------------------------------------------------- the patient's own page


@dataclass(frozen=True)
class ProxyAction:
    occurred_at: datetime
    proxy_name: str
    action: str
    resource_type: str | None


@dataclass(frozen=True)
class OwnAccess:
    holders: list[proxies.Holder]
    actions: list[ProxyAction]
    can_invite: bool
    # Someone in force whom the patient may not remove (a parent or guardian of a minor): the page says
    # whom to ask instead.
    ask_the_clinic: bool


def own_access(session: Session, scope: PatientScope, *, today: date, rules: AgeRules) -> OwnAccess | None:
    """The patient's "who can see my record" page; None for anyone but the patient."""
    if not access.may_see_own_proxies(scope):
        return None
    held = proxies.holders(session, scope, today=today, rules=rules)
    return OwnAccess(
        held,
        proxy_actions(session, scope),
        access.may_invite(scope, today=today, rules=rules),
        any(holder.level is not None and not holder.may_end for holder in held),
    )


def grant_to_end(
    session: Session, scope: PatientScope, grant_public_id: str, *, today: date, rules: AgeRules
) -> proxies.Holder | None:
    """One grant of the patient's, as the confirmation step shows it; None for another patient's."""
    if not access.may_see_own_proxies(scope):
        return None
    held = proxies.holders(session, scope, today=today, rules=rules)
    return next((holder for holder in held if holder.grant.public_id == grant_public_id), None)


def end_own_grant(
    session: Session, scope: PatientScope, grant_public_id: str, *, today: date, rules: AgeRules
) -> ProxyGrant | None:
    """The patient removes someone's access (refused for a minor removing a parent or guardian)."""
    if not access.may_see_own_proxies(scope):
        return None
    return proxies.end_grant(session, scope, grant_public_id, today=today, rules=rules)


def proxy_actions(session: Session, scope: PatientScope, *, limit: int = 100) -> list[ProxyAction]:
    """What people acting for this patient did in their record, newest first (allowed actions only)."""
    rows = session.exec(
        select(AuditEvent, Person.display_name)
        .join(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .where(
            col(AuditEvent.patient_id) == scope.patient_id,
            col(AuditEvent.actor_role) == "proxy",
            col(AuditEvent.outcome) == "allowed",
        )
        .order_by(col(AuditEvent.id).desc())  # waiting events have no seq yet
        .limit(limit)
    ).all()
    return [ProxyAction(event.occurred_at, name, event.action, event.resource_type) for event, name in rows]


# ------------------------------------------------------------------------------------ invitations


@dataclass(frozen=True)
class Invited:
    link: str
    invitee: Person

    @property
    def public_id(self) -> str:
        """The invitee's id, for the audit event of the invitation."""
        return self.invitee.public_id


def invite(
    session: Session,
    scope: PatientScope,
    settings: Settings,
    *,
    email: str,
    name: str = "",
    today: date,
    rules: AgeRules,
) -> Invited | None:
    """Mail a single-use invitation to help the patient; the invitee accepts with their passkey."""
    if not access.may_see_own_proxies(scope):
        return None
    if not access.may_invite(scope, today=today, rules=rules):
        raise Refused("invite_adults_only")
    address = email_address(email)
    if scope.viewer.email is not None and address == scope.viewer.email:
        raise Refused("invite_self")
    invitee = session.exec(select(Person).where(Person.email == address)).first()
    if invitee is None:
        invitee = people.create_person(session, email=address, display_name=name)
    token = codes.issue_code(
        session,
        kind=INVITATION_KIND,
        length=INVITATION_LENGTH,
        lifetime=timedelta(days=INVITATION_DAYS),
        patient_id=scope.patient_id,
        person_id=invitee.id,
        issued_by_person_id=scope.viewer.id,
    )
    link = f"{settings.origin}/invitation/{token}"
    mail.enqueue(
        session,
        to=address,
        subject=INVITATION_SUBJECT,
        body=INVITATION_BODY.format(days=INVITATION_DAYS, link=link),
    )
    return Invited(link, invitee)


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


def accept_invitation(
    session: Session,
    settings: Settings,
    *,
    token: str,
    person: Person | None,
    today: date,
    rules: AgeRules,
    where: Provenance,
) -> Accepted | None:
    """Accept an invitation: the grant (caregiver, full) is made and the link stops working.

    The grant goes through the door on the inviting patient's authority: access decides again, today,
    that the inviter may still invite for this patient (an account since disabled, or a patient no
    longer theirs, makes the link stop working), and the change is audited as theirs.
    A signed-in invitee accepts as themself. Someone not signed in may accept only for an invitee who has
    no passkey yet: holding the mailed link proves the address, and they then create their passkey.
    Returns None for a link that does not work; raises Refused ("not_yours", "sign_in_first", or the
    grant's own refusal) otherwise.
    """
    invitation = find_invitation(session, token)
    if invitation is None or invitation.inviter is None:
        return None
    if person is not None and person.id != invitation.invitee.id:
        raise Refused("not_yours")
    if person is None and invitation.has_passkey:
        raise Refused("sign_in_first")
    asker = access.Asker(invitation.inviter, today, rules, utcnow(), where)
    acted = access.act(
        session, asker, invitation.patient.public_id, GRANT, _grant_invitee, invitation, today, rules
    )
    if acted is None:
        return None
    if acted.refused is not None or acted.data is None:
        raise acted.refused or Refused("not_allowed")
    invitation.code.used_at = utcnow()
    session.add(invitation.code)
    link = None
    if person is None:
        link = people.enrolment_link(session, settings, person=invitation.invitee)
    return Accepted(acted.data, link)


def _grant_invitee(
    session: Session, scope: PatientScope, invitation: Invitation, today: date, rules: AgeRules
) -> ProxyGrant | None:
    if not access.may_invite(scope, today=today, rules=rules):
        return None
    return proxies.add_grant(
        session,
        scope,
        proxy=invitation.invitee,
        relationship="caregiver",
        level="full",
        starts_on=today,
        today=today,
        rules=rules,
    )
