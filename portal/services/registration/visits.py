"""Which visit a check-in is for: a booked `Appointment` (booked in the portal, by the front desk, or sent
by the EHR) or an imported `Encounter` still to come (planned or arrived).

One visit is never counted twice. An Encounter that names a booked appointment (its FHIR `appointment`
reference) or starts at the same moment as one of the same patient's appointments is that appointment's
visit: the appointment's key is the one used, and the encounter's key is kept as another name for the same
visit, so a check-in or an offer made under either is found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.models.records import Encounter, FhirResource
from portal.models.scheduling import Appointment
from portal.services import records
from portal.services.access import PatientScope
from portal.services.scheduling import pages as scheduling_pages

OPEN_ENCOUNTER_STATUSES = ("planned", "arrived")
HORIZON_DAYS = 366  # how far ahead the next visit is looked for; check-in itself opens days before it
LOOK_AHEAD = 5  # visits of each source looked at: the soonest is among them


@dataclass(frozen=True)
class Visit:
    key: str  # "appointment:<id>" or "encounter:<resource id>"
    start: datetime
    patient_id: int
    appointment: Appointment | None = None
    encounter: Encounter | None = None
    also: tuple[str, ...] = ()  # the keys of encounters that are this same visit

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.key, *self.also)


def appointment_key(appointment: Appointment) -> str:
    return f"appointment:{appointment.id}"


def encounter_key(encounter: Encounter) -> str:
    return f"encounter:{encounter.resource_id}"


def open_encounter(encounter: Encounter) -> bool:
    return encounter.start_at is not None and (
        encounter.status is None or encounter.status in OPEN_ENCOUNTER_STATUSES
    )


def _named_appointments(session: Session, encounters: Sequence[Encounter]) -> dict[int, set[str]]:
    """For each encounter (by resource id), the ids of the appointments its FHIR resource names."""
    ids = [e.resource_id for e in encounters]
    if not ids:
        return {}
    named: dict[int, set[str]] = {}
    rows = session.exec(
        select(FhirResource.id, FhirResource.resource_json).where(col(FhirResource.id).in_(ids))
    )
    for resource_id, text in rows:
        try:
            resource: dict[str, Any] = json.loads(text or "{}")
        except ValueError:
            resource = {}
        references = resource.get("appointment") or []
        named[resource_id or 0] = {
            str(ref.get("reference", "")).rsplit("/", 1)[-1] for ref in references if isinstance(ref, dict)
        }
    return named


def same_visit(appointment: Appointment, encounter: Encounter, named: set[str]) -> bool:
    return encounter.patient_id == appointment.patient_id and (
        appointment.fhir_id in named or encounter.start_at == appointment.start_at
    )


def combine(
    session: Session, appointments: Iterable[Appointment], encounters: Iterable[Encounter]
) -> list[Visit]:
    """Both sources as visits, soonest first, each visit once (its appointment when it has one)."""
    open_encounters = [e for e in encounters if open_encounter(e)]
    named = _named_appointments(session, open_encounters)
    visits: list[Visit] = []
    matched: set[int] = set()
    for appointment in appointments:
        same = [e for e in open_encounters if same_visit(appointment, e, named.get(e.resource_id, set()))]
        matched |= {e.resource_id for e in same}
        visits.append(
            Visit(
                appointment_key(appointment),
                appointment.start_at,
                appointment.patient_id,
                appointment=appointment,
                also=tuple(encounter_key(e) for e in same),
            )
        )
    for encounter in open_encounters:
        if encounter.resource_id not in matched and encounter.start_at is not None:
            visits.append(
                Visit(encounter_key(encounter), encounter.start_at, encounter.patient_id, encounter=encounter)
            )
    return sorted(visits, key=lambda v: (v.start, v.appointment is None, v.key))


def upcoming(session: Session, scope: PatientScope) -> list[Visit]:
    """The patient's visits still to come that this scope may see (a limited view never sees a
    confidential appointment or encounter), soonest first."""
    appointments = scheduling_pages.upcoming_booked(session, scope, days=HORIZON_DAYS)[:LOOK_AHEAD]
    encounters = records.upcoming_encounters(session, scope, limit=LOOK_AHEAD)
    return combine(session, appointments, encounters)


def next_visit(session: Session, scope: PatientScope) -> Visit | None:
    """The patient's next visit the portal knows of: the one a check-in is for."""
    found = upcoming(session, scope)
    return found[0] if found else None
