"""Appointments as FHIR R4: each one kept as a `fhir_resource` row (so the patient's download and
`portal export-fhir` carry it, and the visibility rule hides a confidential one from a limited view by its
label), listed as NDJSON for the EHR, and read back from the EHR (Schedule, Slot, Appointment)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.models.base import utcnow
from portal.models.people import Patient
from portal.models.records import FhirResource
from portal.models.scheduling import Appointment, ClinicLocation, Provider, VisitType

CONFIDENTIAL_LABEL = "appointment-confidential"  # the fhir_resource label a limited view never sees
SERVICE_SYSTEM = "urn:portal:visit-type"


def _instant(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def resource(session: Session, appointment: Appointment, visit_type: VisitType | None) -> dict[str, Any]:
    """The FHIR R4 Appointment for one appointment (the reason only as the patient wrote it)."""
    patient = session.get(Patient, appointment.patient_id)
    assert patient is not None
    participants: list[dict[str, Any]] = [
        {"actor": {"reference": f"Patient/{patient.fhir_id}"}, "status": "accepted"}
    ]
    provider = session.get(Provider, appointment.provider_id) if appointment.provider_id else None
    if provider is not None:
        reference = f"Practitioner/{provider.fhir_id}" if provider.fhir_id else None
        actor = (
            {"reference": reference, "display": provider.name} if reference else {"display": provider.name}
        )
        participants.append({"actor": actor, "status": "accepted"})
    place = session.get(ClinicLocation, appointment.location_id) if appointment.location_id else None
    if place is not None:
        actor = {"reference": f"Location/{place.fhir_id}"} if place.fhir_id else {}
        participants.append({"actor": {**actor, "display": place.name}, "status": "accepted"})
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": appointment.fhir_id,
        "status": appointment.status,
        "start": _instant(appointment.start_at),
        "end": _instant(appointment.end_at),
        "created": appointment.created_at.astimezone(UTC).date().isoformat(),
        "participant": participants,
    }
    if visit_type is not None:
        body["serviceType"] = [
            {"coding": [{"system": SERVICE_SYSTEM, "code": visit_type.code, "display": visit_type.name}]}
        ]
        body["minutesDuration"] = visit_type.minutes
    if appointment.reason:
        body["comment"] = appointment.reason
    if appointment.status == "cancelled" and appointment.cancel_reason:
        body["cancelationReason"] = {"text": appointment.cancel_reason}
    if appointment.confidential:
        body["meta"] = {
            "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}]
        }
    return body


def store(session: Session, appointment: Appointment, visit_type: VisitType | None) -> FhirResource:
    """Write (or rewrite) the appointment's FHIR row beside the patient's record."""
    session.add(appointment)
    session.flush()
    text = json.dumps(resource(session, appointment, visit_type), sort_keys=True, separators=(",", ":"))
    row = session.exec(
        select(FhirResource).where(
            FhirResource.resource_type == "Appointment", FhirResource.fhir_id == appointment.fhir_id
        )
    ).first()
    if row is None:
        row = FhirResource(
            resource_type="Appointment",
            fhir_id=appointment.fhir_id,
            patient_id=appointment.patient_id,
            content_hash="",
            resource_json=text,
        )
    row.resource_json = text
    row.content_hash = hashlib.sha256(text.encode()).hexdigest()
    row.confidential_reason = CONFIDENTIAL_LABEL if appointment.confidential else None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def changed_since(session: Session, since: datetime) -> list[dict[str, Any]]:
    """New, changed and cancelled appointments since `since`, as FHIR Appointments, oldest change first."""
    found = session.exec(
        select(Appointment)
        .where(col(Appointment.updated_at) >= since, Appointment.source != "ehr")
        .order_by(col(Appointment.updated_at), col(Appointment.id))
    ).all()
    types = {t.id: t for t in session.exec(select(VisitType))}
    return [resource(session, a, types.get(a.visit_type_id)) for a in found]
