"""Granting and ending proxy access, and listing who holds it: each through a patient scope.

Every function takes the `PatientScope` the access service opened (`access.act` for a change, whose one
audit event records it; `access.read` for a list). Refusals are `Refused` with a code the views put into
words; nothing here decides who may look, only what a change may be.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from portal.models.access import LEVELS, RELATIONSHIPS, ProxyGrant
from portal.models.people import Person
from portal.services import access
from portal.services.access import AgeRules, Level, PatientScope, grant_level
from portal.services.errors import Refused


@dataclass(frozen=True)
class Holder:
    grant: ProxyGrant
    proxy: Person
    level: Level | None  # what the grant gives today after the age rules; None if not in force
    may_end: bool  # whether the viewer of the scope may end it (the page offers it only then)
    end_refusal: str | None  # why not, as a Refused code


def add_grant(
    session: Session,
    scope: PatientScope,
    *,
    proxy: Person,
    relationship: str,
    level: str = "full",
    starts_on: date,
    ends_on: date | None = None,
    beyond_majority: bool = False,
    today: date,
    rules: AgeRules,
) -> ProxyGrant:
    """Give `proxy` access to the scope's patient; refuses duplicates and grants that could never apply."""
    patient = scope.patient
    if relationship not in RELATIONSHIPS:
        raise Refused("bad_relationship", choices=RELATIONSHIPS)
    if level not in LEVELS:
        raise Refused("bad_level", choices=LEVELS)
    if beyond_majority and relationship != "guardian":
        raise Refused("beyond_majority_needs_guardian")
    if ends_on is not None and ends_on <= starts_on:
        raise Refused("end_before_start")
    if proxy.staff_role is not None:
        raise Refused("staff_cannot_be_proxy")
    if patient.person_id is not None and patient.person_id == proxy.id:
        raise Refused("own_proxy")
    if relationship == "parent" and access.is_adult(patient, today=today, rules=rules):
        raise Refused("parent_of_adult")
    for existing in session.exec(
        select(ProxyGrant).where(ProxyGrant.proxy_person_id == proxy.id, ProxyGrant.patient_id == patient.id)
    ):
        if existing.revoked_at is None and (existing.ends_on is None or existing.ends_on > today):
            raise Refused("already_granted")
    assert proxy.id is not None
    grant = ProxyGrant(
        proxy_person_id=proxy.id,
        patient_id=scope.patient_id,
        relationship=relationship,
        level=level,
        starts_on=starts_on,
        ends_on=ends_on,
        beyond_majority=beyond_majority,
        granted_by_person_id=scope.viewer.id,
    )
    session.add(grant)
    session.flush()
    return grant


def grant_of(session: Session, scope: PatientScope, grant_public_id: str) -> ProxyGrant | None:
    """The grant with this public id, if it is one of the scope's patient's; None otherwise."""
    return session.exec(
        select(ProxyGrant).where(
            ProxyGrant.public_id == grant_public_id, ProxyGrant.patient_id == scope.patient_id
        )
    ).first()


def end_grant(
    session: Session, scope: PatientScope, grant_public_id: str, *, today: date, rules: AgeRules
) -> ProxyGrant | None:
    """Revoke one of the patient's grants now; None for a grant of another patient (answered as missing).

    Refuses (code from `access.end_grant_refusal`) a viewer who may not end it, such as a patient aged
    12–17 removing a parent. Ending a grant that has already ended changes nothing.
    """
    grant = grant_of(session, scope, grant_public_id)
    if grant is None:
        return None
    refusal = access.end_grant_refusal(scope, grant, today=today, rules=rules)
    if refusal is not None:
        raise Refused(refusal)
    if grant.revoked_at is None:
        grant.revoked_at = datetime.now(UTC)
        grant.revoked_by_person_id = scope.viewer.id
        session.add(grant)
        session.flush()
    return grant


def holders(session: Session, scope: PatientScope, *, today: date, rules: AgeRules) -> list[Holder]:
    """Everyone who holds or held proxy access to the patient, those in force first."""
    patient = scope.patient
    rows = session.exec(
        select(ProxyGrant, Person)
        .join(Person, Person.id == ProxyGrant.proxy_person_id)  # type: ignore[arg-type]
        .where(ProxyGrant.patient_id == scope.patient_id)
        .order_by(ProxyGrant.granted_at.desc())  # type: ignore[attr-defined]
    ).all()
    found = []
    for grant, person in rows:
        refusal = access.end_grant_refusal(scope, grant, today=today, rules=rules)
        level = grant_level(grant, patient.birth_date, today, rules)
        found.append(Holder(grant, person, level, refusal is None, refusal))
    return sorted(found, key=lambda holder: holder.level is None)
