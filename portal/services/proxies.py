"""Granting and ending proxy access, and showing a patient who holds it. Every change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlmodel import Session, select

from portal.models.access import LEVELS, RELATIONSHIPS, ProxyGrant
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import audit
from portal.services.access import AgeRules, Level, age_on, grant_level


class GrantRefused(ValueError):
    """The grant cannot be made; the message says why in words a front-desk screen can show."""


@dataclass(frozen=True)
class Holder:
    grant: ProxyGrant
    proxy: Person
    level: Level | None  # what the grant gives today after the age rules; None if not in force


def add_grant(
    session: Session,
    *,
    proxy: Person,
    patient: Patient,
    relationship: str,
    level: str = "full",
    starts_on: date,
    ends_on: date | None = None,
    beyond_majority: bool = False,
    granted_by: Person | None,
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
) -> ProxyGrant:
    """Give `proxy` access to `patient`'s record; refuses duplicates and grants that could never apply."""
    if relationship not in RELATIONSHIPS:
        raise GrantRefused(f"relationship must be one of: {', '.join(RELATIONSHIPS)}")
    if level not in LEVELS:
        raise GrantRefused(f"level must be one of: {', '.join(LEVELS)}")
    if beyond_majority and relationship != "guardian":
        raise GrantRefused("only a guardian grant can continue past the age of majority")
    if ends_on is not None and ends_on <= starts_on:
        raise GrantRefused("the end date must be after the start date")
    if proxy.staff_role is not None:
        raise GrantRefused("staff accounts cannot hold proxy access")
    if patient.person_id is not None and patient.person_id == proxy.id:
        raise GrantRefused("a person cannot be their own proxy")
    adult = patient.birth_date is not None and age_on(patient.birth_date, today) >= rules.adult_at_age
    if relationship == "parent" and adult:
        raise GrantRefused("a parent grant ends at 18: use a guardian or caregiver grant for an adult")
    for existing in session.exec(
        select(ProxyGrant).where(ProxyGrant.proxy_person_id == proxy.id, ProxyGrant.patient_id == patient.id)
    ):
        if existing.revoked_at is None and (existing.ends_on is None or existing.ends_on > today):
            raise GrantRefused("this person already has proxy access to this patient")
    assert proxy.id is not None and patient.id is not None
    grant = ProxyGrant(
        proxy_person_id=proxy.id,
        patient_id=patient.id,
        relationship=relationship,
        level=level,
        starts_on=starts_on,
        ends_on=ends_on,
        beyond_majority=beyond_majority,
        granted_by_person_id=granted_by.id if granted_by else None,
    )
    session.add(grant)
    session.flush()
    _audit(session, "grant-proxy", grant, patient, granted_by, where)
    return grant


def end_grant(
    session: Session,
    grant: ProxyGrant,
    *,
    patient: Patient,
    ended_by: Person | None,
    where: Provenance | None = None,
) -> ProxyGrant:
    """Revoke a grant now. Ending one that has already ended changes nothing."""
    if grant.patient_id != patient.id:
        raise GrantRefused("that grant is not for this patient")
    if grant.revoked_at is None:
        grant.revoked_at = datetime.now(UTC)
        grant.revoked_by_person_id = ended_by.id if ended_by else None
        session.add(grant)
        session.flush()
        _audit(session, "revoke-proxy", grant, patient, ended_by, where)
    return grant


def holders(session: Session, patient: Patient, *, today: date, rules: AgeRules) -> list[Holder]:
    """Everyone who holds or held proxy access to `patient`, those in force first."""
    rows = session.exec(
        select(ProxyGrant, Person)
        .join(Person, Person.id == ProxyGrant.proxy_person_id)  # type: ignore[arg-type]
        .where(ProxyGrant.patient_id == patient.id)
        .order_by(ProxyGrant.granted_at.desc())  # type: ignore[attr-defined]
    ).all()
    found = [
        Holder(grant, person, grant_level(grant, patient.birth_date, today, rules)) for grant, person in rows
    ]
    return sorted(found, key=lambda holder: holder.level is None)


def _audit(
    session: Session,
    action: str,
    grant: ProxyGrant,
    patient: Patient,
    actor: Person | None,
    where: Provenance | None,
) -> None:
    where = where or Provenance()
    audit.record(
        session,
        action=action,
        actor_person_id=actor.id if actor else None,
        actor_role=(actor.staff_role or "patient") if actor else None,
        patient_id=patient.id,
        resource_type="proxy_grant",
        resource_id=grant.public_id,
        provenance=where,
    )
