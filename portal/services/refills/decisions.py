"""The clinician's side of refills: the queue (oldest first, with what a decision needs) and the decision,
made once: a conditional update, so when two clinicians decide at the same moment one wins and the other
is told (Refused "already_decided"), on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from portal.models.base import utcnow
from portal.models.people import Patient
from portal.models.records import Encounter, FhirResource, MedicationRequest
from portal.models.refills import RefillEvent, RefillRequest
from portal.services import access
from portal.services.access import Area, Look, PatientScope, Screen
from portal.services.errors import Refused
from portal.services.refills import requests, rules

QUEUE = Look(Area.RECORD, "Task", action="view")
QUEUE_LIMIT = 200


@dataclass(frozen=True)
class QueueItem:
    request: RefillRequest
    patient: Patient
    medication: MedicationRequest
    last_prescribed: datetime | None
    last_visit: datetime | None
    next_visit: datetime | None
    pharmacy: str


def _may_decide(scope: PatientScope) -> bool:
    return scope.staff and access.may_use_screen(scope.viewer, Screen.REFILLS)


def _instant(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _next_booked(session: Session, scope: PatientScope) -> datetime | None:
    """The next booked visit the EHR sent (an Appointment), if any."""
    soonest: datetime | None = None
    for text in session.scalars(
        select(FhirResource.resource_json).where(  # type: ignore[call-overload]
            col(FhirResource.patient_id) == scope.patient_id, col(FhirResource.resource_type) == "Appointment"
        )
    ):
        appointment = json.loads(text)
        start = _instant(appointment.get("start"))
        if appointment.get("status") == "booked" and start and start > scope.now:
            soonest = start if soonest is None or start < soonest else soonest
    return soonest


def queue_items(session: Session, scope: PatientScope) -> list[QueueItem] | None:
    """This patient's pending requests with what the clinician needs; None for anyone who may not decide."""
    if not _may_decide(scope):
        return None
    rows = session.exec(
        requests.visible(
            session,
            scope,
            select(RefillRequest, MedicationRequest)
            .join(MedicationRequest, col(MedicationRequest.id) == col(RefillRequest.medication_id))
            .where(col(RefillRequest.status) == rules.PENDING),
        )
    ).all()
    if not rows:
        return None
    last_visit = session.scalars(
        select(col(Encounter.start_at))
        .where(col(Encounter.patient_id) == scope.patient_id, col(Encounter.start_at) <= scope.now)
        .order_by(col(Encounter.start_at).desc())
    ).first()
    next_visit = _next_booked(session, scope)
    return [
        QueueItem(
            request,
            scope.patient,
            medication,
            medication.authored_on,
            last_visit,
            next_visit,
            requests.pharmacy_label(request),
        )
        for request, medication in rows
    ]


def queue(session: Session, asker: access.Asker) -> list[QueueItem]:
    """The refill queue, oldest first: one audited look at each patient shown (`access.read_many`)."""
    access.require_screen(asker.person, Screen.REFILLS)
    patient_ids = list(
        dict.fromkeys(
            session.scalars(
                select(col(RefillRequest.patient_id))
                .where(col(RefillRequest.status) == rules.PENDING)
                .order_by(col(RefillRequest.created_at), col(RefillRequest.id))
                .limit(QUEUE_LIMIT)
            )
        )
    )
    patients = list(session.scalars(select(Patient).where(col(Patient.id).in_(patient_ids))))
    patients.sort(key=lambda patient: patient_ids.index(patient.id or 0))
    items = [
        item
        for opened in access.read_many(session, asker, patients, QUEUE, queue_items)
        for item in opened.data
    ]
    return sorted(items, key=lambda item: (item.request.created_at, item.request.id or 0))


@dataclass(frozen=True)
class DecisionInput:
    status: str
    quantity: int | None = None
    refills: int | None = None
    reason: str | None = None


def _number(text: str, low: int, high: int, code: str) -> int:
    if not text.strip().isdigit() or not low <= int(text) <= high:
        raise Refused(code)
    return int(text)


def parse_decision(fields: dict[str, str]) -> DecisionInput:
    """The clinician's form checked; Refused with a code naming what is wrong."""
    status = fields.get("decision", "")
    if status not in rules.DECISIONS:
        raise Refused("bad_decision")
    reason = fields.get("reason", "").strip()[: rules.MAX_NOTE] or None
    if status == rules.APPROVED:
        quantity = _number(fields.get("quantity", ""), 1, rules.MAX_QUANTITY, "bad_quantity")
        refills = _number(fields.get("refills", ""), 0, rules.MAX_REFILLS, "bad_refills")
        return DecisionInput(status, quantity, refills)
    if status == rules.DENIED and reason is None:
        raise Refused("reason_missing")
    return DecisionInput(status, reason=reason)


def decide(
    session: Session,
    scope: PatientScope,
    refill_public_id: str,
    decision: DecisionInput | None,
    *,
    clinic: str,
) -> RefillRequest | None:
    """Record the decision on a pending request, once. None for an unknown request or anyone who may not
    decide; Refused "already_decided" when it was decided first (by another clinician, or the EHR), and
    "bad_decision" when the form held none (`decision` None)."""
    if not _may_decide(scope):
        return None
    if decision is None:
        raise Refused("bad_decision")
    found = session.exec(
        requests.visible(
            session,
            scope,
            select(RefillRequest, MedicationRequest)
            .join(MedicationRequest, col(MedicationRequest.id) == col(RefillRequest.medication_id))
            .where(col(RefillRequest.public_id) == refill_public_id),
        )
    ).first()
    if found is None:
        return None
    request, medication = found
    now = utcnow()
    changed = session.execute(
        update(RefillRequest)
        .where(col(RefillRequest.id) == request.id, col(RefillRequest.status) == rules.PENDING)
        .values(
            status=decision.status,
            decided_at=now,
            decided_by_person_id=scope.viewer.id,
            reason=decision.reason,
            quantity=decision.quantity,
            refills=decision.refills,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise Refused("already_decided")
    session.refresh(request)
    assert request.id is not None
    session.add(RefillEvent(request_id=request.id, status=decision.status, at=now))
    requests.write_task(session, request, medication, scope)
    requests.mail_update(session, request, clinic=clinic)
    return request
