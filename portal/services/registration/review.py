"""Sending a check-in, and the front desk's review of it.

Sending turns what was entered into one `CheckInChange` per difference from the record (a detail, the
insurance, a medicine no longer taken, an allergy or medicine added in the patient's words). Nothing
changes the record until a member of staff accepts a change; a rejected change carries a reason the
patient sees. Accepted changes, the questionnaire answers and the signed consents are kept as FHIR
resources in `fhir_resource` for the EHR (and listed by `portal registration export`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from portal import forms
from portal.models.base import utcnow
from portal.models.people import Patient
from portal.models.records import Allergy, FhirResource, MedicationRequest
from portal.models.registration import (
    STEPS,
    CheckIn,
    CheckInAnswer,
    CheckInChange,
    CheckInPhoto,
    RegistrationOutput,
)
from portal.models.scheduling import Appointment
from portal.services.access import PatientScope
from portal.services.errors import Refused
from portal.services.registration import consents, steps
from portal.services.registration.steps import DETAIL_FIELDS
from portal.services.visibility import visible

TEEN_CONFIDENTIAL = "teen-confidential"
REASON_LENGTH = 500


# --------------------------------------------------------------------------- the patient's review step


@dataclass(frozen=True)
class ReviewPage:
    progress: steps.Progress
    allergies: list[Allergy]
    medications: list[MedicationRequest]
    stopped: set[str]
    added_allergies: str
    added_medicines: str


def review_page(session: Session, scope: PatientScope, opens_days: int = steps.DEFAULT_OPENS_DAYS) -> Any:
    """Allergies and medicines as the clinic has them (as this viewer may see them), and what was marked."""
    progress = steps.progress(session, scope, opens_days)
    if progress is None:
        return None
    saved = json.loads(progress.checkin.review_json) if progress.checkin else {}
    from sqlalchemy import select as sa_select

    allergies = [
        row
        for row in session.scalars(visible(session, scope, sa_select(Allergy), Allergy))
        if row.status in (None, "active") and row.verification_status != "entered-in-error"
    ]
    medications = [
        row
        for row in session.scalars(visible(session, scope, sa_select(MedicationRequest), MedicationRequest))
        if row.status in ("active", "on-hold", "draft", None)
    ]
    return ReviewPage(
        progress,
        allergies,
        medications,
        set(saved.get("stopped", [])),
        saved.get("added_allergies", ""),
        saved.get("added_medicines", ""),
    )


def save_review(
    session: Session,
    scope: PatientScope,
    stopped: list[str],
    added_allergies: str,
    added_medicines: str,
    opens_days: int = steps.DEFAULT_OPENS_DAYS,
) -> CheckIn | steps.Closed:
    checkin = steps.open_checkin(session, scope, opens_days)
    if isinstance(checkin, steps.Closed):
        return checkin
    try:
        allergies_text = forms.text(added_allergies, max_length=2000, multiline=True)
        medicines_text = forms.text(added_medicines, max_length=2000, multiline=True)
    except forms.InputError:
        raise Refused("too_long", field="added") from None
    page = review_page(session, scope, opens_days)
    known = {row.public_id for row in page.allergies + page.medications} if page else set()
    checkin.review_json = json.dumps(
        {
            "stopped": sorted(set(stopped) & known),  # only items this viewer was shown
            "added_allergies": allergies_text,
            "added_medicines": medicines_text,
        },
        sort_keys=True,
    )
    steps.mark_done(checkin, "review")
    session.add(checkin)
    return checkin


# ----------------------------------------------------------------------------------------- sending


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def submit(
    session: Session, scope: PatientScope, opens_days: int = steps.DEFAULT_OPENS_DAYS
) -> CheckIn | steps.Closed:
    """Send the check-in to the clinic: every step must be done. Makes the changes staff will review, and
    keeps the answers and the signed consents as FHIR resources."""
    checkin = steps.open_checkin(session, scope, opens_days)
    if isinstance(checkin, steps.Closed):
        return checkin
    progress = steps.progress(session, scope, opens_days)
    assert progress is not None
    missing = [step for step in STEPS if step not in progress.steps_done]
    if missing:
        raise Refused("steps_missing", step=missing[0])
    assert checkin.id is not None
    checkin_id: int = checkin.id

    def change(kind: str, field_name: str, old: str, new: str) -> None:
        session.add(
            CheckInChange(
                checkin_id=checkin_id, kind=kind, field_name=field_name, old_value=old, new_value=new
            )
        )

    for name in DETAIL_FIELDS:
        if name in progress.changed:
            change("detail", name, progress.record_details.get(name, ""), progress.details.get(name, ""))
    insurance = json.loads(checkin.insurance_json)
    change("insurance", "coverage", "", json.dumps(insurance, sort_keys=True))
    review = json.loads(checkin.review_json)
    names = {
        row.public_id: (kind, row.display)
        for kind, rows in (("allergy-stop", Allergy), ("medication-stop", MedicationRequest))
        for row in session.exec(select(rows).where(rows.patient_id == scope.patient_id))  # type: ignore[attr-defined]
    }
    for public_id in review.get("stopped", []):
        if public_id in names:
            kind, display = names[public_id]
            change(kind, public_id, display, "")
    for line in _lines(review.get("added_allergies", "")):
        change("allergy-add", "", "", line)
    for line in _lines(review.get("added_medicines", "")):
        change("medication-add", "", "", line)
    for answer in session.exec(select(CheckInAnswer).where(CheckInAnswer.checkin_id == checkin.id)):
        resource = json.loads(answer.response_json)
        resource["id"] = f"reg-qr-{secrets.token_hex(8)}"
        keep(session, checkin, scope.patient, resource, TEEN_CONFIDENTIAL if answer.confidential else None)
    by_key = {document.key: document for document in consents.documents()}
    for signature in consents.signatures(session, checkin).values():
        resource = consents.consent_resource(signature, by_key[signature.document], scope.patient.fhir_id)
        signature.fhir_resource_id = keep(session, checkin, scope.patient, resource, None).id
        session.add(signature)
    checkin.status = "submitted"
    checkin.submitted_at = utcnow()
    session.add(checkin)
    _mark_appointment_checked_in(session, scope, checkin)
    return checkin


def _mark_appointment_checked_in(session: Session, scope: PatientScope, checkin: CheckIn) -> None:
    """The booked visit this check-in is for shows "checked in online" on the staff day view."""
    if checkin.appointment_id is None:
        return
    appointment = session.get(Appointment, checkin.appointment_id)
    if appointment is not None and appointment.patient_id == scope.patient_id:
        appointment.checked_in_at = checkin.submitted_at
        session.add(appointment)


def keep(
    session: Session, checkin: CheckIn, patient: Patient, resource: dict[str, Any], label: str | None
) -> FhirResource:
    """Store a resource the check-in made (or updated) in fhir_resource, and list it for the export."""
    text = json.dumps(resource, sort_keys=True)
    row = session.exec(
        select(FhirResource).where(
            FhirResource.resource_type == resource["resourceType"], FhirResource.fhir_id == resource["id"]
        )
    ).first()
    if row is None:
        row = FhirResource(
            resource_type=resource["resourceType"],
            fhir_id=resource["id"],
            resource_json=text,
            content_hash="",
            patient_id=patient.id,
        )
    row.resource_json = text
    row.content_hash = hashlib.sha256(text.encode()).hexdigest()
    row.confidential_reason = label
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    assert row.id is not None and checkin.id is not None
    session.add(RegistrationOutput(checkin_id=checkin.id, fhir_resource_id=row.id))
    return row


# ------------------------------------------------------------------------------------ the staff side


@dataclass(frozen=True)
class Queued:
    patient: Patient
    checkin: CheckIn
    pending: int


def queue(session: Session) -> list[Queued]:
    """Sent check-ins with changes still to decide, soonest visit first (the staff screen's list)."""
    rows = session.exec(
        select(CheckIn, Patient)
        .join(Patient, col(Patient.id) == col(CheckIn.patient_id))
        .where(CheckIn.status == "submitted")
        .order_by(col(CheckIn.visit_start))
    ).all()
    found = []
    for checkin, patient in rows:
        pending = len(
            session.exec(
                select(CheckInChange.id).where(
                    CheckInChange.checkin_id == checkin.id, CheckInChange.status == "pending"
                )
            ).all()
        )
        found.append(Queued(patient, checkin, pending))
    return found


@dataclass(frozen=True)
class StaffReview:
    checkin: CheckIn | None  # None: nothing sent yet
    changes: list[CheckInChange]
    photos: dict[str, bytes]  # side -> the re-encoded JPEG
    answers: list[CheckInAnswer]  # what this member of staff may read (confidential ones left out)
    confidential_answers: int


def _latest(session: Session, scope: PatientScope) -> CheckIn | None:
    return session.exec(
        select(CheckIn)
        .where(CheckIn.patient_id == scope.patient_id, CheckIn.status != "started")
        .order_by(col(CheckIn.submitted_at).desc())
    ).first()


def staff_review(session: Session, scope: PatientScope, may_review: bool) -> StaffReview | None:
    """The patient's latest sent check-in, change by change (a reader for the registration screen)."""
    if not (scope.staff and may_review):
        return None
    checkin = _latest(session, scope)
    if checkin is None:
        return StaffReview(None, [], {}, [], 0)
    changes = list(
        session.exec(
            select(CheckInChange)
            .where(CheckInChange.checkin_id == checkin.id)
            .order_by(col(CheckInChange.id))
        )
    )
    photos = {
        row.side: row.data
        for row in session.exec(select(CheckInPhoto).where(CheckInPhoto.checkin_id == checkin.id))
    }
    answers = list(session.exec(select(CheckInAnswer).where(CheckInAnswer.checkin_id == checkin.id)))
    shown = [a for a in answers if scope.sees_confidential or not a.confidential]
    return StaffReview(checkin, changes, photos, shown, len(answers) - len(shown))


@dataclass(frozen=True)
class Decided:
    """A decision made (change), or why none was (problem: a code the screen puts into words)."""

    change: CheckInChange | None
    problem: str | None = None


def decide(
    session: Session, scope: PatientScope, may_review: bool, change_id: str, accept: bool, reason: str
) -> Decided | None:
    """Accept (apply to the record, keep as FHIR) or reject (with a reason the patient sees) one change."""
    review = staff_review(session, scope, may_review)
    if review is None:
        return None
    change = next((c for c in review.changes if c.public_id == change_id), None)
    if change is None or review.checkin is None or change.status != "pending":
        return Decided(None, "not_waiting")
    try:
        reason = forms.text(reason, max_length=REASON_LENGTH, multiline=True)
    except forms.InputError:
        return Decided(None, "too_long")
    if not accept and not reason:
        return Decided(None, "reason_needed")
    if accept:
        resource = _apply(session, scope, review.checkin, change)
        change.fhir_resource_id = keep(session, review.checkin, scope.patient, resource, None).id
    change.status = "accepted" if accept else "rejected"
    change.reason = reason
    change.decided_by_person_id = scope.viewer.id
    change.decided_at = utcnow()
    session.add(change)
    if all(c.status != "pending" for c in review.changes):
        review.checkin.status = "reviewed"
        review.checkin.reviewed_at = utcnow()
        session.add(review.checkin)
    return Decided(change)


def _apply(session: Session, scope: PatientScope, checkin: CheckIn, change: CheckInChange) -> dict[str, Any]:
    """What an accepted change writes: the Patient resource updated, or a new patient-reported resource."""
    patient = scope.patient
    subject = {"reference": f"Patient/{patient.fhir_id}"}
    reported = {"reference": f"Patient/{patient.fhir_id}"}
    new_id = f"reg-{secrets.token_hex(8)}"
    if change.kind == "detail":
        return _patient_update(session, patient, change.field_name, change.new_value)
    if change.kind == "insurance":
        coverage = json.loads(change.new_value)
        if coverage.get("no_insurance"):
            return {
                "resourceType": "Coverage",
                "id": new_id,
                "status": "active",
                "beneficiary": subject,
                "payor": [subject],
                "type": {"text": "self-pay"},
            }
        return {
            "resourceType": "Coverage",
            "id": new_id,
            "status": "active",
            "beneficiary": subject,
            "subscriberId": coverage.get("member_id") or None,
            "relationship": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/subscriber-relationship",
                        "code": coverage.get("subscriber_relationship") or "self",
                    }
                ]
            },
            "payor": [{"display": coverage.get("payer") or "unknown"}],
            "class": [
                {
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                                "code": "group",
                            }
                        ]
                    },
                    "value": coverage.get("group_number") or "unknown",
                }
            ],
        }
    if change.kind in ("allergy-add", "allergy-stop"):
        adding = change.kind == "allergy-add"
        return {
            "resourceType": "AllergyIntolerance",
            "id": new_id,
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                        "code": "active" if adding else "inactive",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                        "code": "unconfirmed",
                    }
                ]
            },
            "code": {"text": change.new_value if adding else change.old_value},
            "patient": subject,
            "asserter": reported,
            "note": [{"text": "Patient-reported at online check-in"}],
        }
    return {
        "resourceType": "MedicationStatement",
        "id": new_id,
        "status": "active" if change.kind == "medication-add" else "stopped",
        "medicationCodeableConcept": {"text": change.new_value or change.old_value},
        "subject": subject,
        "informationSource": reported,
        "dateAsserted": utcnow().isoformat(timespec="seconds"),
        "note": [{"text": "Patient-reported at online check-in"}],
    }


def _patient_update(session: Session, patient: Patient, name: str, value: str) -> dict[str, Any]:
    resource: dict[str, Any] = json.loads(patient.resource_json or "{}") or {"resourceType": "Patient"}
    resource["resourceType"] = "Patient"
    resource["id"] = patient.fhir_id
    if name in ("given_name", "family_name"):
        if name == "given_name":
            patient.given_name = value
        else:
            patient.family_name = value
        official = {"use": "official", "family": patient.family_name, "given": [patient.given_name]}
        resource["name"] = [official] + [n for n in resource.get("name") or [] if n.get("use") != "official"]
    elif name == "preferred_name":
        resource["name"] = [n for n in resource.get("name") or [] if n.get("use") != "usual"] + [
            {"use": "usual", "given": [value]}
        ]
    elif name == "birth_date" and value:
        patient.birth_date = date.fromisoformat(value)
        resource["birthDate"] = value
    elif name in ("phone", "email"):
        resource["telecom"] = [t for t in resource.get("telecom") or [] if t.get("system") != name] + (
            [{"system": name, "value": value}] if value else []
        )
    elif name in ("address_line", "city", "state", "postal_code"):
        address: dict[str, Any] = next(iter(resource.get("address") or []), {})
        key = {"address_line": "line", "city": "city", "state": "state", "postal_code": "postalCode"}[name]
        address[key] = [value] if key == "line" else value
        resource["address"] = [address]
    elif name == "language":
        resource["communication"] = [{"language": {"text": value}, "preferred": True}]
    elif name in ("emergency_name", "emergency_phone"):
        contact: dict[str, Any] = next(iter(resource.get("contact") or []), {})
        if name == "emergency_name":
            contact["name"] = {"text": value}
        else:
            contact["telecom"] = [{"system": "phone", "value": value}]
        contact["relationship"] = [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "C"}]}
        ]
        resource["contact"] = [contact]
    elif name == "pronouns":
        resource["extension"] = [
            e for e in resource.get("extension") or [] if "pronouns" not in str(e.get("url"))
        ] + [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/individual-pronouns",
                "extension": [{"url": "value", "valueCodeableConcept": {"text": value}}],
            }
        ]
    patient.resource_json = json.dumps(resource, sort_keys=True)
    patient.updated_at = utcnow()
    session.add(patient)
    return resource
