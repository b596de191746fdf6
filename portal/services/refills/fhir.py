"""Refill requests as the EHR takes them: a FHIR R4 Task per request (intent order, focus the
MedicationRequest, owner the care team) and, once approved, a draft MedicationRequest the prescriber
signs. Both are kept in `fhir_resource`, so the patient's FHIR download and `portal export-fhir` list
them; a confidential medicine's are labelled, so a limited view's download leaves them out.

Statuses both ways. Out: pending -> requested, approved -> accepted, denied -> rejected, needs a visit ->
on-hold, cancelled -> cancelled. In (a Task the EHR sends back): completed -> approved and sent to the
pharmacy (the only way the portal ever says so), rejected or failed -> denied (its statusReason the
reason), on-hold -> needs a visit, cancelled -> cancelled, accepted -> approved; the others change nothing.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from portal.models.base import utcnow
from portal.models.people import Patient
from portal.models.records import FhirResource, MedicationRequest
from portal.models.refills import RefillRequest
from portal.services.refills import rules

TASK_STATUS = {
    rules.PENDING: "requested",
    rules.APPROVED: "accepted",
    rules.DENIED: "rejected",
    rules.NEEDS_VISIT: "on-hold",
    rules.CANCELLED: "cancelled",
}
FROM_TASK_STATUS = {
    "accepted": rules.APPROVED,
    "completed": rules.APPROVED,
    "rejected": rules.DENIED,
    "failed": rules.DENIED,
    "on-hold": rules.NEEDS_VISIT,
    "cancelled": rules.CANCELLED,
}
# FHIR R4 TaskStatus (the models check the code's form, not its value set).
TASK_STATUSES = frozenset(
    {
        "draft",
        "requested",
        "received",
        "accepted",
        "rejected",
        "ready",
        "cancelled",
        "in-progress",
        "on-hold",
        "failed",
        "completed",
        "entered-in-error",
    }
)
CONFIDENTIAL_LABEL = "teen-confidential"  # hides the resource from a limited view (visibility.py)
TASK_PREFIX = "refill-"
DRAFT_PREFIX = "refill-draft-"
PORTAL_SYSTEM = "urn:portal:refill-request"


def fhir_safe(public_id: str) -> str:
    """A public id as a FHIR id ([A-Za-z0-9-.]): the "_" of URL-safe base64 becomes "."."""
    return public_id.replace("_", ".")


def task_fhir_id(request: RefillRequest) -> str:
    return f"{TASK_PREFIX}{fhir_safe(request.public_id)}"


def draft_fhir_id(request: RefillRequest) -> str:
    return f"{DRAFT_PREFIX}{fhir_safe(request.public_id)}"


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def _care_team(session: Session, patient: Patient) -> dict[str, Any]:
    """The patient's care team as the EHR sent it, else the clinic's care team by name."""
    team = session.scalars(
        select(FhirResource)
        .where(col(FhirResource.patient_id) == patient.id, col(FhirResource.resource_type) == "CareTeam")
        .order_by(col(FhirResource.id))
    ).first()
    if team is not None:
        return {"reference": f"CareTeam/{team.fhir_id}"}
    return {"display": "Care team"}


def task_json(
    session: Session,
    request: RefillRequest,
    patient: Patient,
    medication: MedicationRequest,
    *,
    pharmacy_label: str,
    draft_fhir_id: str | None = None,
) -> dict[str, Any]:
    """The request as a FHIR R4 Task."""
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": task_fhir_id(request),
        "identifier": [{"system": PORTAL_SYSTEM, "value": request.public_id}],
        "status": TASK_STATUS[request.status],
        "intent": "order",
        "priority": "routine",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}],
            "text": "Prescription refill request",
        },
        "focus": {"reference": f"MedicationRequest/{medication.fhir_id}", "display": medication.display},
        "for": {"reference": f"Patient/{patient.fhir_id}"},
        "authoredOn": _instant(request.created_at),
        "lastModified": _instant(request.decided_at or request.created_at),
        "owner": _care_team(session, patient),
        "input": [
            {"type": {"text": "days-of-medicine-left"}, "valueInteger": request.days_left},
            {"type": {"text": "pharmacy"}, "valueString": pharmacy_label},
        ],
    }
    if request.note:
        task["note"] = [{"text": request.note}]
    if request.status == rules.DENIED and request.reason:
        task["statusReason"] = {"text": request.reason}
    if request.status == rules.NEEDS_VISIT:
        task["businessStatus"] = {"text": "needs-visit"}
    if draft_fhir_id is not None:
        task["output"] = [
            {
                "type": {"text": "draft-prescription"},
                "valueReference": {"reference": f"MedicationRequest/{draft_fhir_id}"},
            }
        ]
    return task


def draft_json(
    request: RefillRequest, patient: Patient, medication: MedicationRequest, original: dict[str, Any]
) -> dict[str, Any]:
    """The approved refill as a draft MedicationRequest, for the prescriber to sign in the EHR."""
    draft: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": draft_fhir_id(request),
        "status": "draft",
        "intent": "order",
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "authoredOn": _instant(request.decided_at or utcnow()),
        "priorPrescription": {"reference": f"MedicationRequest/{medication.fhir_id}"},
        "dispenseRequest": {
            "numberOfRepeatsAllowed": request.refills or 0,
            "quantity": {"value": request.quantity or 0},
        },
    }
    for key in ("medicationCodeableConcept", "medicationReference", "dosageInstruction"):
        if key in original:
            draft[key] = original[key]
    if "medicationCodeableConcept" not in draft and "medicationReference" not in draft:
        draft["medicationCodeableConcept"] = {"text": medication.display}
    return draft


def keep(
    session: Session, resource: dict[str, Any], patient: Patient, *, confidential: bool, row_id: int | None
) -> FhirResource:
    """Store (or replace) a resource the portal made, labelled when a limited view must not see it."""
    text = json.dumps(resource, ensure_ascii=False, sort_keys=True)
    row = session.get(FhirResource, row_id) if row_id is not None else None
    if row is None:
        row = FhirResource(
            resource_type=resource["resourceType"],
            fhir_id=resource["id"],
            patient_id=patient.id,
            content_hash="",
            resource_json="{}",
        )
    row.resource_json = text
    row.content_hash = hashlib.sha256(text.encode()).hexdigest()
    row.confidential_reason = CONFIDENTIAL_LABEL if confidential else None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    return row


def parse_task(resource: dict[str, Any]) -> tuple[str, str, str | None]:
    """(request public id, portal status or "", reason) from a Task the EHR sent back; ValueError if
    it is not a valid R4 Task of a refill request."""
    from fhir.resources.R4B.task import Task  # imported here: loading the models is slow

    task = Task.model_validate(resource)
    fhir_id = task.id or ""
    if not fhir_id.startswith(TASK_PREFIX):
        raise ValueError(f"Task {fhir_id!r} is not a refill request")
    if task.status not in TASK_STATUSES:
        raise ValueError(f"Task {fhir_id!r}: {str(task.status)[:40]!r} is not a FHIR R4 Task status")
    reason = task.statusReason.text if task.statusReason is not None else None
    return (
        fhir_id.removeprefix(TASK_PREFIX).replace(".", "_"),
        FROM_TASK_STATUS.get(task.status or "", ""),
        reason,
    )
