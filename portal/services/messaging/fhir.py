"""Each message the patient can see, kept as a FHIR R4 Communication in `fhir_resource` for the EHR.

A thread is named by an identifier (system THREAD_SYSTEM) in `about`, so the EHR can file the messages of one
conversation together; a confidential thread's messages carry meta.security R and the portal's own label
("teen-confidential"), which hides them from a limited view's FHIR download. Internal notes are not sent.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlmodel import Session, col, select

from portal.models.base import utcnow
from portal.models.messaging import Message, MessageAttachment, MessageThread
from portal.models.people import Patient
from portal.models.records import FhirResource

THREAD_SYSTEM = "urn:portal:message-thread"
MESSAGE_SYSTEM = "urn:portal:message"
CONFIDENTIAL_LABEL = "teen-confidential"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
CATEGORY_SYSTEM = "urn:portal:message-topic"


def communication(
    thread: MessageThread, message: Message, patient: Patient, files: list[MessageAttachment]
) -> dict[str, Any]:
    """The message as a Communication resource (a dict)."""
    patient_ref = {"reference": f"Patient/{patient.fhir_id}"}
    author = {"display": message.author_name}
    if message.author_kind == "self":
        author = patient_ref
    payload: list[dict[str, Any]] = [{"contentString": message.body}]
    payload += [
        {"contentAttachment": {"contentType": f.media_type, "title": f.filename, "size": f.size}}
        for f in files
    ]
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "id": fhir_id(message),
        "identifier": [{"system": MESSAGE_SYSTEM, "value": message.public_id}],
        "status": "completed",
        "category": [{"coding": [{"system": CATEGORY_SYSTEM, "code": thread.topic}]}],
        "subject": patient_ref,
        "about": [{"identifier": {"system": THREAD_SYSTEM, "value": thread.public_id}}],
        "topic": {"text": thread.subject},
        "sent": message.created_at.isoformat(timespec="seconds"),
        "sender": author,
        "recipient": [patient_ref] if message.author_kind == "staff" else [{"display": "Care team"}],
        "payload": payload,
    }
    if thread.confidential:
        resource["meta"] = {"security": [{"system": CONFIDENTIALITY, "code": "R"}]}
    return resource


def fhir_id(message: Message) -> str:
    """A FHIR id ([A-Za-z0-9-.]{1,64}): public ids may hold "_", which FHIR ids may not (and never ".")."""
    return f"msg-{message.public_id.replace('_', '.')}"[:64]


def keep(session: Session, thread: MessageThread, message: Message, files: list[MessageAttachment]) -> None:
    """Store (or refresh, after a move) the message's Communication row."""
    if message.internal:
        return
    patient = session.get(Patient, thread.patient_id)
    assert patient is not None
    text = json.dumps(communication(thread, message, patient, files), sort_keys=True)
    row = session.exec(
        select(FhirResource).where(
            FhirResource.resource_type == "Communication", FhirResource.fhir_id == fhir_id(message)
        )
    ).first()
    if row is None:
        row = FhirResource(
            resource_type="Communication", fhir_id=fhir_id(message), content_hash="", resource_json=""
        )
    row.patient_id = thread.patient_id
    row.resource_json = text
    row.content_hash = hashlib.sha256(text.encode()).hexdigest()
    row.confidential_reason = CONFIDENTIAL_LABEL if thread.confidential else None
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    message.fhir_resource_id = row.id


def refresh_thread(session: Session, thread: MessageThread) -> None:
    """Write every message of the thread again (after a move to another chart or a change of label)."""
    for message in session.exec(
        select(Message).where(Message.thread_id == thread.id).order_by(col(Message.id))
    ):
        files = list(
            session.exec(select(MessageAttachment).where(MessageAttachment.message_id == message.id))
        )
        keep(session, thread, message, files)


def since(session: Session, moment: Any) -> list[dict[str, Any]]:
    """Every kept Communication changed since `moment`, oldest first (the export's NDJSON lines)."""
    rows = session.exec(
        select(FhirResource)
        .where(FhirResource.resource_type == "Communication", col(FhirResource.updated_at) >= moment)
        .order_by(col(FhirResource.updated_at), col(FhirResource.id))
    )
    return [json.loads(row.resource_json) for row in rows]
