"""Prescription refill requests: the rules for what can be refilled online (`rules`), the patient's
requests (`requests`), the clinician's queue and decisions (`decisions`), and the FHIR Task and draft
MedicationRequest kept for the EHR, with the export and re-import of Tasks (`fhir`, `exchange`).

Messaging's hook: `request_from_message(session, scope, medication_public_id, days_left=..., note=...)`.
"""

from __future__ import annotations

from portal.services.refills.decisions import (
    QUEUE,
    DecisionInput,
    QueueItem,
    decide,
    parse_decision,
    queue,
    queue_items,
)
from portal.services.refills.requests import (
    MedicationsPage,
    Offer,
    RequestForm,
    RequestInput,
    RequestView,
    create_request,
    history,
    medications_page,
    parse_request,
    request_form,
    request_from_message,
    visible,
)

__all__ = [
    "QUEUE",
    "DecisionInput",
    "MedicationsPage",
    "Offer",
    "QueueItem",
    "RequestForm",
    "RequestInput",
    "RequestView",
    "create_request",
    "decide",
    "history",
    "medications_page",
    "parse_decision",
    "parse_request",
    "queue",
    "queue_items",
    "request_form",
    "request_from_message",
    "visible",
]
