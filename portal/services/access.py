"""The one place that decides who may see or do what for which patient, and audits the decision.

Rules (from the clinic's settings, computed from the date of birth on every request, so no nightly job
can be forgotten):
- the patient's own account sees everything about them, adolescents included;
- a parent or guardian has full access to a child under `full_proxy_until_age` (12), a limited view
  from then until `adult_at_age` (18), and none after that, unless a guardian grant is marked
  `beyond_majority`; an adult caregiver has the level the grant gives;
- a limited view hides confidential items (sensitive codes, meta.security R or V) and the patient's own
  messages;
- staff see what their job needs, by role.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Generic, TypeVar

from sqlmodel import Session, select

from portal.models.access import ProxyGrant
from portal.models.people import Patient, Person, StaffRole
from portal.provenance import Provenance
from portal.services import audit

T = TypeVar("T")


class Level(StrEnum):
    SELF = "self"
    FULL = "full"
    LIMITED = "limited"
    STAFF = "staff"


class Area(StrEnum):
    """What part of a patient's chart an action touches."""

    RECORD = "record"  # results, medications, problems, visits, notes, growth, immunizations
    MESSAGES = "messages"
    APPOINTMENTS = "appointments"
    BILLING = "billing"
    DOCUMENTS = "documents"  # summaries and PDFs
    DEMOGRAPHICS = "demographics"  # name, age, contact details: the banner
    PROXIES = "proxies"  # who holds proxy access, grants and revocations
    AUDIT = "audit"  # who viewed the record


# What each staff role may touch. Admin reads the audit log; nobody edits it.
# Keyed by StaffRole (a str, so a stored role string finds its row).
STAFF_AREAS: dict[str, frozenset[Area]] = {
    StaffRole.CLINICIAN: frozenset(
        {Area.RECORD, Area.MESSAGES, Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS}
    ),
    StaffRole.FRONT_DESK: frozenset({Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS, Area.PROXIES}),
    StaffRole.BILLING: frozenset({Area.BILLING, Area.DEMOGRAPHICS}),
    StaffRole.ADMIN: frozenset({Area.AUDIT, Area.PROXIES, Area.DEMOGRAPHICS}),
}
# A proxy, even a full one, does not manage who else holds access, nor read the access log.
PROXY_AREAS = frozenset(set(Area) - {Area.PROXIES, Area.AUDIT})


@dataclass(frozen=True)
class AgeRules:
    full_proxy_until_age: int = 12
    adult_at_age: int = 18


@dataclass(frozen=True)
class Decision:
    allowed: bool
    level: Level | None
    sees_confidential: bool = False
    sees_patient_messages: bool = False


DENIED = Decision(allowed=False, level=None)


def age_on(birth_date: date, today: date) -> int:
    """Whole years; someone born on 29 February turns a year older on 1 March in other years."""
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def grant_level(grant: ProxyGrant, birth_date: date | None, today: date, rules: AgeRules) -> Level | None:
    """The level a proxy grant gives today, after its dates and the patient's age; None if none."""
    if grant.revoked_at is not None or today < grant.starts_on:
        return None
    if grant.ends_on is not None and today >= grant.ends_on:
        return None
    level = Level(grant.level)
    if birth_date is None:
        return level if grant.relationship == "caregiver" else None
    age = age_on(birth_date, today)
    if age >= rules.adult_at_age:
        if grant.relationship == "parent" or (grant.relationship == "guardian" and not grant.beyond_majority):
            return None
        return level
    if age >= rules.full_proxy_until_age:
        return Level.LIMITED
    return level


def decide(
    session: Session, person: Person, patient: Patient, area: Area, *, today: date, rules: AgeRules
) -> Decision:
    """What `person` may do in `area` of `patient`'s chart today. Pure apart from reading grants."""
    if person.disabled:
        return DENIED
    if person.staff_role is not None:
        if area in STAFF_AREAS.get(person.staff_role, frozenset()):
            confidential = person.staff_role == StaffRole.CLINICIAN
            return Decision(
                True, Level.STAFF, sees_confidential=confidential, sees_patient_messages=confidential
            )
        return DENIED
    if patient.person_id is not None and patient.person_id == person.id:
        return Decision(True, Level.SELF, sees_confidential=True, sees_patient_messages=True)
    if area not in PROXY_AREAS:
        return DENIED
    best: Level | None = None
    for grant in session.exec(
        select(ProxyGrant).where(ProxyGrant.proxy_person_id == person.id, ProxyGrant.patient_id == patient.id)
    ):
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is Level.FULL or (level is Level.LIMITED and best is None):
            best = level
    if best is None:
        return DENIED
    full = best is Level.FULL
    return Decision(True, best, sees_confidential=full, sees_patient_messages=full)


def authorize(
    session: Session,
    person: Person,
    patient: Patient,
    area: Area,
    *,
    action: str,
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> Decision:
    """Decide, and write the audit event for the attempt in the same transaction, allowed or denied."""
    decision = decide(session, person, patient, area, today=today, rules=rules)
    _audit(
        session,
        person,
        patient,
        decision,
        decision.allowed,
        action=action,
        where=where,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    return decision


@dataclass(frozen=True)
class Chart(Generic[T]):
    """An opened chart: whose it is, what the viewer may see, and what was loaded for the page."""

    patient: Patient
    decision: Decision
    data: T


def open_chart(
    session: Session,
    person: Person,
    patient_public_id: str,
    area: Area,
    load: Callable[[Session, Patient, Decision], T | None],
    *,
    action: str = "view",
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> Chart[T] | None:
    """Find the patient named in the URL, check access, load what the page shows, and audit it: one event.

    Returns None (and audits a denial) when the patient is unknown, the person may not see them, or
    `load` finds nothing for this patient, so that a record of another patient looks exactly like a
    missing one. The caller answers 404 after the transaction commits, so denials stay in the log.
    """
    patient = session.exec(select(Patient).where(Patient.public_id == patient_public_id)).first()
    if patient is None:
        w = where or Provenance()
        audit.record(
            session,
            action=action,
            outcome="denied",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            resource_type=resource_type,
            resource_id=resource_id,
            provenance=w,
        )
        return None
    decision = decide(session, person, patient, area, today=today, rules=rules)
    data = load(session, patient, decision) if decision.allowed else None
    found = decision.allowed and data is not None
    _audit(
        session,
        person,
        patient,
        decision,
        found,
        action=action,
        where=where,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    return Chart(patient, decision, data) if found and data is not None else None


def _audit(
    session: Session,
    person: Person,
    patient: Patient,
    decision: Decision,
    allowed: bool,
    *,
    action: str,
    where: Provenance | None,
    resource_type: str | None,
    resource_id: str | None,
) -> None:
    role = person.staff_role or ("patient" if decision.level is Level.SELF else "proxy")
    w = where or Provenance()
    audit.record(
        session,
        action=action,
        outcome="allowed" if allowed else "denied",
        actor_person_id=person.id,
        actor_role=role,
        on_behalf_of_person_id=patient.person_id if role == "proxy" else None,
        patient_id=patient.id,
        resource_type=resource_type,
        resource_id=resource_id,
        provenance=w,
    )


def patients_for(
    session: Session, person: Person, *, today: date, rules: AgeRules
) -> list[tuple[Patient, Level]]:
    """Everyone `person` can act for today (themself first, then proxies by first name), for the switcher."""
    found: list[tuple[Patient, Level]] = []
    own = session.exec(select(Patient).where(Patient.person_id == person.id)).first()
    if own is not None:
        found.append((own, Level.SELF))
    rows = session.exec(
        select(ProxyGrant, Patient)
        .join(Patient, Patient.id == ProxyGrant.patient_id)  # type: ignore[arg-type]
        .where(ProxyGrant.proxy_person_id == person.id)
    ).all()
    best: dict[int, tuple[Patient, Level]] = {}
    for grant, patient in rows:
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is None or patient.id is None or (own is not None and patient.id == own.id):
            continue
        if patient.id not in best or level is Level.FULL:
            best[patient.id] = (patient, level)
    found.extend(sorted(best.values(), key=lambda pair: (pair[0].given_name, pair[0].family_name)))
    return found
