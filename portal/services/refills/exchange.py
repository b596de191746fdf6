"""Refill requests to and from the EHR's interface engine, at the command line: the Tasks of a status as
NDJSON, and Tasks sent back with a new status, which change what the patient sees.

Both go through the door as the operator (`access.read_as_operator`, `access.act_as_operator`): one audit
event per request, actor "system", with the command's `cli:` provenance.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.models.people import Patient
from portal.models.records import FhirResource, MedicationRequest
from portal.models.refills import RefillEvent, RefillRequest
from portal.services import access
from portal.services.access import Area, Look, PatientScope
from portal.services.refills import fhir, requests, rules


def _task(session: Session, scope: PatientScope, request_id: int) -> dict[str, Any] | None:
    request = session.get(RefillRequest, request_id)
    if request is None or request.patient_id != scope.patient_id or request.task_resource_id is None:
        return None
    row = session.get(FhirResource, request.task_resource_id)
    return json.loads(row.resource_json) if row is not None else None


def export_tasks(
    session: Session, operator: access.Operator, *, status: str, since: datetime | None
) -> Iterator[dict[str, Any]]:
    """The Task of every request with this status (made since `since`), oldest first, each audited."""
    query = select(RefillRequest, Patient).join(Patient, col(Patient.id) == col(RefillRequest.patient_id))
    query = query.where(col(RefillRequest.status) == status)
    if since is not None:
        query = query.where(col(RefillRequest.created_at) >= since)
    for request, patient in session.exec(
        query.order_by(col(RefillRequest.created_at), col(RefillRequest.id))
    ).all():
        assert request.id is not None
        look = Look(Area.RECORD, "Task", request.public_id, action="export")
        task = access.read_as_operator(session, operator, patient, look, _task, request.id)
        if task is not None:
            yield task


@dataclass(frozen=True)
class Applied:
    public_id: str
    changed: bool


def apply_task(
    session: Session, scope: PatientScope, request_id: int, resource: dict[str, Any], *, clinic: str
) -> Applied | None:
    """Take the EHR's Task as the truth: its status becomes the request's, and "completed" is the one sign
    that the prescription reached the pharmacy. The patient (or proxy) who asked is mailed on a change."""
    request = session.get(RefillRequest, request_id)
    if request is None or request.patient_id != scope.patient_id:
        return None
    medication = session.get(MedicationRequest, request.medication_id)
    assert medication is not None and request.id is not None
    _, status, reason = fhir.parse_task(resource)
    task_status = str(resource.get("status"))
    sent = task_status == "completed"
    changed = bool(status) and (status != request.status or sent != request.sent_to_pharmacy)
    request.ehr_status = task_status[:20]
    if changed:
        request.status = status
        request.sent_to_pharmacy = sent
        if status == rules.DENIED and reason:
            request.reason = reason
        session.add(RefillEvent(request_id=request.id, status=status, sent_to_pharmacy=sent))
        requests.mail_update(session, request, clinic=clinic)
    fhir.keep(
        session,
        resource,
        scope.patient,
        confidential=medication.confidential,
        row_id=request.task_resource_id,
    )
    session.add(request)
    return Applied(request.public_id, changed)


def read_tasks(text: str) -> list[dict[str, Any]]:
    """Tasks from a file: one Task, a Bundle of them, or NDJSON (one per line). ValueError when unreadable."""
    stripped = text.strip()
    try:
        parsed = [json.loads(stripped)]
    except json.JSONDecodeError:
        try:
            parsed = [json.loads(line) for line in stripped.splitlines() if line.strip()]
        except json.JSONDecodeError as error:
            raise ValueError(f"not JSON or NDJSON (line {error.lineno})") from None
    found: list[dict[str, Any]] = []
    for item in parsed:
        if not isinstance(item, dict):
            raise ValueError("expected FHIR resources")
        if item.get("resourceType") == "Bundle":
            found.extend(entry.get("resource") or {} for entry in item.get("entry") or [])
        else:
            found.append(item)
    tasks = [item for item in found if item.get("resourceType") == "Task"]
    if not tasks:
        raise ValueError("no Task in the file")
    return tasks


def import_task(
    session: Session, operator: access.Operator, resource: dict[str, Any], *, clinic: str
) -> Applied | None:
    """Apply one Task the EHR sent back; None when no refill request has its id. ValueError when the Task
    is not valid FHIR R4 or not a refill request's."""
    public_id, _, _ = fhir.parse_task(resource)
    found = session.exec(
        select(RefillRequest, Patient)
        .join(Patient, col(Patient.id) == col(RefillRequest.patient_id))
        .where(col(RefillRequest.public_id) == public_id)
    ).first()
    if found is None:
        return None
    request, patient = found
    assert request.id is not None
    look = Look(Area.RECORD, "Task", public_id, action="update")
    acted = access.act_as_operator(
        session, operator, patient, look, apply_task, request.id, resource, clinic=clinic
    )
    return acted.data if acted is not None else None
