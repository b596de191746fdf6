"""Who may see or do what for which patient: the rules, decided from grants, ages and staff roles.

The door (`access.door`) applies them; nothing else calls `decide`. See `portal.services.access` for the
rules in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from portal.models.access import ProxyGrant
from portal.models.people import Patient, Person, StaffRole


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
    # The front desk and billing answer messages of their pools; only clinicians read confidential threads.
    StaffRole.FRONT_DESK: frozenset(
        {Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS, Area.PROXIES, Area.MESSAGES}
    ),
    StaffRole.BILLING: frozenset({Area.BILLING, Area.DEMOGRAPHICS, Area.MESSAGES}),
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
    areas: frozenset[Area] = frozenset()  # every area this viewer may use for this patient


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


ALL_AREAS = frozenset(Area)


# Built once, for every chart page: building a statement costs more than running it.
_GRANTS_TO_PATIENT = select(ProxyGrant).where(
    col(ProxyGrant.proxy_person_id) == bindparam("person_id"),
    col(ProxyGrant.patient_id) == bindparam("patient_id"),
)
_OWN_CHART = select(Patient).where(col(Patient.person_id) == bindparam("person_id"))
_GRANTS_WITH_PATIENTS = (
    select(ProxyGrant, Patient)
    .join(Patient, col(Patient.id) == col(ProxyGrant.patient_id))
    .where(col(ProxyGrant.proxy_person_id) == bindparam("person_id"))
)


def decide(
    session: Session, person: Person, patient: Patient, area: Area, *, today: date, rules: AgeRules
) -> Decision:
    """What `person` may do in `area` of `patient`'s chart today. Pure apart from reading grants."""
    if person.disabled:
        return DENIED
    if person.staff_role is not None:
        return staff_decision(person, area)
    if patient.person_id is not None and patient.person_id == person.id:
        return Decision(True, Level.SELF, sees_confidential=True, sees_patient_messages=True, areas=ALL_AREAS)
    if area not in PROXY_AREAS:
        return DENIED
    best: Level | None = None
    for grant in session.scalars(_GRANTS_TO_PATIENT, {"person_id": person.id, "patient_id": patient.id}):
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is Level.FULL or (level is Level.LIMITED and best is None):
            best = level
    if best is None:
        return DENIED
    full = best is Level.FULL
    return Decision(True, best, sees_confidential=full, sees_patient_messages=full, areas=PROXY_AREAS)


def patients_for(
    session: Session, person: Person, *, today: date, rules: AgeRules, own_chart: Patient | None = None
) -> list[tuple[Patient, Level]]:
    """Everyone `person` can act for today (themself first, then proxies by first name), for the switcher.

    `own_chart`: the person's own chart when the caller has it already (a page of it), saving a query."""
    found: list[tuple[Patient, Level]] = []
    own = own_chart or session.scalars(_OWN_CHART, {"person_id": person.id}).first()
    if own is not None:
        found.append((own, Level.SELF))
    rows = session.execute(_GRANTS_WITH_PATIENTS, {"person_id": person.id}).all()
    best: dict[int, tuple[Patient, Level]] = {}
    for grant, patient in rows:
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is None or patient.id is None or (own is not None and patient.id == own.id):
            continue
        if patient.id not in best or level is Level.FULL:
            best[patient.id] = (patient, level)
    found.extend(sorted(best.values(), key=lambda pair: (pair[0].given_name, pair[0].family_name)))
    return found


def staff_decision(person: Person, area: Area) -> Decision:
    """What a member of staff may do in `area` of any patient's chart: staff rules do not depend on the
    patient, so a staff queue listing many patients applies the same decision to each."""
    if person.disabled or person.staff_role is None:
        return DENIED
    areas = STAFF_AREAS.get(person.staff_role, frozenset())
    if area not in areas:
        return DENIED
    confidential = person.staff_role == StaffRole.CLINICIAN
    return Decision(
        True, Level.STAFF, sees_confidential=confidential, sees_patient_messages=confidential, areas=areas
    )
