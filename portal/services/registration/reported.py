"""What the patient told us at check-in and staff accepted, shown beside the clinic's list as "You told us".

An accepted allergy or medicine change is kept as a patient-reported FHIR resource for the EHR; it is never
merged into the list the EHR sent. The allergies and medications pages show it in a part of its own.
A limited view (a parent of a teen) does not see what was reported for a confidential visit, nor what the
teen reported themself (like the teen's own messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_
from sqlmodel import Session, col, select

from portal.models.records import Encounter, MedicationRequest
from portal.models.registration import CheckIn, CheckInChange
from portal.models.scheduling import Appointment
from portal.services import records, refills
from portal.services.access import PatientScope
from portal.services.refills.requests import Offer

ALLERGY_KINDS = ("allergy-add", "allergy-stop")
MEDICATION_KINDS = ("medication-add", "medication-stop")


@dataclass(frozen=True)
class Reported:
    text: str
    stopped: bool  # "I no longer take this" (or "no longer an allergy"), rather than something added
    accepted_at: datetime | None


@dataclass(frozen=True)
class WithReported:
    """The clinic's list (current and past) and, apart, what the patient told us."""

    current: list[object] = field(default_factory=list)
    past: list[object] = field(default_factory=list)
    reported: list[Reported] = field(default_factory=list)


def _shown(scope: PatientScope) -> ColumnElement[bool]:
    """The one visibility rule for reported changes: everything for the patient, full proxies and staff;
    for a limited view, nothing from a confidential visit's check-in or sent by the patient themself."""
    shown: ColumnElement[bool] = col(CheckIn.patient_id) == scope.patient_id
    if scope.sees_confidential:
        return shown
    confidential_visits = select(Encounter.resource_id).where(
        Encounter.patient_id == scope.patient_id, col(Encounter.confidential).is_(True)
    )
    confidential_appointments = select(Appointment.id).where(
        Appointment.patient_id == scope.patient_id, col(Appointment.confidential).is_(True)
    )
    not_confidential = and_(
        or_(
            col(CheckIn.encounter_resource_id).is_(None),
            col(CheckIn.encounter_resource_id).not_in(confidential_visits),
        ),
        or_(
            col(CheckIn.appointment_id).is_(None),
            col(CheckIn.appointment_id).not_in(confidential_appointments),
        ),
    )
    own_person = scope.patient.person_id
    by_someone_else = (
        or_(col(CheckIn.started_by_person_id).is_(None), col(CheckIn.started_by_person_id) != own_person)
        if own_person is not None
        else col(CheckIn.id).is_not(None)
    )
    return and_(shown, not_confidential, by_someone_else)


def reported(session: Session, scope: PatientScope, kinds: tuple[str, ...]) -> list[Reported]:
    """Accepted patient-reported changes of these kinds, newest first."""
    rows = session.exec(
        select(CheckInChange)
        .join(CheckIn, col(CheckIn.id) == col(CheckInChange.checkin_id))
        .where(_shown(scope), col(CheckInChange.kind).in_(kinds), CheckInChange.status == "accepted")
        .order_by(col(CheckInChange.decided_at).desc(), col(CheckInChange.id).desc())
    ).all()
    return [
        Reported(row.new_value or row.old_value, row.kind.endswith("-stop"), row.decided_at) for row in rows
    ]


def allergies(session: Session, scope: PatientScope) -> WithReported:
    """A reader for the allergies page: the clinic's list and, apart, what the patient told us."""
    listed = records.allergies(session, scope)
    return WithReported(listed.current, listed.past, reported(session, scope, ALLERGY_KINDS))


@dataclass(frozen=True)
class MedicationsWithReported:
    """The medications page: the clinic's list with each current medicine's refill offer, and, apart,
    what the patient told us."""

    current: list[MedicationRequest]
    past: list[MedicationRequest]
    offers: dict[int, Offer]
    reported: list[Reported]


def medications(session: Session, scope: PatientScope) -> MedicationsWithReported:
    """The medications page's reader: the clinic's list with refill offers, and what the patient told us."""
    page = refills.medications_page(session, scope)
    told = reported(session, scope, MEDICATION_KINDS)
    return MedicationsWithReported(page.current, page.past, page.offers, told)
