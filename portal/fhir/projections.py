"""From a validated FHIR R4 resource (fhir.resources R4B model) to the columns the record pages read."""

from __future__ import annotations

import binascii
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, Protocol

from sqlmodel import SQLModel

from portal.models import records


class Links(Protocol):
    """What a projection may ask of the importer about a Reference."""

    def row_id(self, reference: Any) -> int | None: ...

    def name(self, reference: Any) -> str | None: ...


def instant(value: Any) -> datetime | None:
    """An aware UTC datetime from a FHIR date, dateTime or instant (partial dates start their period)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if isinstance(value, str):
        parts = value.split("-")
        try:
            return datetime(int(parts[0]), int(parts[1]) if len(parts) > 1 else 1, 1, tzinfo=UTC)
        except ValueError:
            return None
    return None


def number(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


def clip(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]


LOINC = "http://loinc.org"


def coding_of(concept: Any, prefer: str | None = None) -> tuple[str | None, str | None, str]:
    """(system, code, display) of a CodeableConcept: its first coding with a code (from the preferred
    system when it has one), and its best label."""
    if concept is None:
        return None, None, ""
    codings = concept.coding or []
    coded = [c for c in codings if c.code]
    preferred = [c for c in coded if c.system == prefer] if prefer else []
    first = (preferred or coded or codings or [None])[0]
    display = concept.text or next((c.display for c in codings if c.display), None)
    if first is None:
        return None, None, display or ""
    return first.system, clip(first.code, 100), display or first.code or ""


def label(concept: Any) -> str | None:
    return coding_of(concept)[2] or None


def code(concept: Any) -> str | None:
    return coding_of(concept)[1]


def labels(concepts: list[Any] | None) -> str | None:
    joined = "; ".join(filter(None, (label(c) for c in concepts or [])))
    return joined or None


def first_code(concepts: list[Any] | None) -> str | None:
    return next(filter(None, (code(c) for c in concepts or [])), None)


def reference_names(references: list[Any] | None, links: Links) -> str | None:
    joined = "; ".join(filter(None, (links.name(r) for r in references or [])))
    return joined or None


def common(model: Any, concept: Any, prefer: str | None = None) -> dict[str, Any]:
    system, code_value, display = coding_of(concept, prefer)
    status = getattr(model, "status", None)
    return {
        "fhir_id": model.id,
        "status": clip(status, 64) if isinstance(status, str) else None,
        "code_system": system,
        "code": code_value,
        "display": display,
    }  # `confidential` is set for the whole record once the file is in (portal.fhir.confidentiality)


def period_start(period: Any) -> datetime | None:
    return instant(period.start) if period is not None else None


def period_end(period: Any) -> datetime | None:
    return instant(period.end) if period is not None else None


def decoded_text(attachment: Any) -> str | None:
    """The text of an attachment whose content type is text/*, decoded; None for anything else."""
    if attachment is None or attachment.data is None:
        return None
    if not (attachment.contentType or "").lower().startswith("text/"):
        return None
    data = attachment.data
    if isinstance(data, str):
        try:
            data = binascii.a2b_base64(data)
        except binascii.Error:
            return None
    return bytes(data).decode("utf-8", errors="replace")


def encounter(model: Any, links: Links) -> dict[str, Any]:
    participants = [p.individual for p in model.participant or [] if p.individual is not None]
    locations = [entry.location for entry in model.location or []]
    return {
        **common(model, (model.type or [None])[0]),
        "class_code": clip(model.class_fhir.code if model.class_fhir else None, 64),
        "reason": labels(model.reasonCode) or reference_names(model.reasonReference, links),
        "start_at": period_start(model.period),
        "end_at": period_end(model.period),
        "practitioner": reference_names(participants, links),
        "practitioner_resource_id": next(filter(None, (links.row_id(p) for p in participants)), None),
        "location": reference_names(locations, links),
        "organization": links.name(model.serviceProvider) if model.serviceProvider else None,
        "diagnoses": reference_names([d.condition for d in model.diagnosis or []], links),
    }


def _value_columns(element: Any) -> dict[str, Any]:
    quantity = element.valueQuantity
    text = None
    if element.valueCodeableConcept is not None:
        text = label(element.valueCodeableConcept)
    elif element.valueString is not None:
        text = element.valueString
    elif element.valueBoolean is not None:
        text = "yes" if element.valueBoolean else "no"
    elif element.valueInteger is not None:
        return {"value": float(element.valueInteger), "unit": None, "value_text": None}
    return {
        "value": number(quantity.value) if quantity else None,
        "unit": clip(quantity.unit or quantity.code, 64) if quantity else None,
        "value_text": text,
    }


def observation(model: Any, links: Links) -> dict[str, Any]:
    categories = [code(c) for c in model.category or []]
    ranges = model.referenceRange or []
    reference = ranges[0] if ranges else None
    quantity = model.valueQuantity
    interpretation = (model.interpretation or [None])[0]
    return {
        **common(model, model.code, LOINC),
        **_value_columns(model),
        "category": clip(next(filter(None, categories), None), 64),
        "effective_at": instant(model.effectiveDateTime)
        or instant(model.effectiveInstant)
        or period_start(model.effectivePeriod),
        "issued": instant(model.issued),
        "comparator": quantity.comparator if quantity else None,
        "reference_low": number(reference.low.value) if reference and reference.low else None,
        "reference_high": number(reference.high.value) if reference and reference.high else None,
        "reference_text": reference.text if reference else None,
        "interpretation": clip(code(interpretation), 20),
        "interpretation_display": label(interpretation),
        "encounter_resource_id": links.row_id(model.encounter),
    }


def observation_components(model: Any) -> list[dict[str, Any]]:
    components = []
    for position, component in enumerate(model.component or []):
        system, code_value, display = coding_of(component.code)
        components.append(
            {
                "position": position,
                "code_system": system,
                "code": code_value,
                "display": display,
                **_value_columns(component),
            }
        )
    return components


def diagnostic_report(model: Any, links: Links) -> dict[str, Any]:
    texts = filter(None, (decoded_text(form) for form in model.presentedForm or []))
    return {
        **common(model, model.code, LOINC),
        "category": clip(first_code(model.category), 64),
        "effective_at": instant(model.effectiveDateTime) or period_start(model.effectivePeriod),
        "issued": instant(model.issued),
        "conclusion": model.conclusion,
        "text": "\n\n".join(texts) or None,
        "encounter_resource_id": links.row_id(model.encounter),
    }


def clinical_document(model: Any, links: Links) -> dict[str, Any]:
    attachments = [content.attachment for content in model.content or []]
    texts = [text for text in (decoded_text(a) for a in attachments) if text is not None]
    context = model.context
    encounters = context.encounter if context is not None else None
    return {
        **common(model, model.type),
        "category": clip(first_code(model.category), 64),
        "date": instant(model.date),
        "author": reference_names(model.author, links),
        "content_type": clip(attachments[0].contentType if attachments else None, 100),
        "text": texts[0] if texts else None,
        "encounter_resource_id": links.row_id(encounters[0]) if encounters else None,
    }


def immunization(model: Any, links: Links) -> dict[str, Any]:
    return {
        **common(model, model.vaccineCode),
        "occurred_at": instant(model.occurrenceDateTime),
        "lot_number": clip(model.lotNumber, 100),
        "encounter_resource_id": links.row_id(model.encounter),
    }


def medication_request(model: Any, links: Links) -> dict[str, Any]:
    columns = common(model, model.medicationCodeableConcept)
    if model.medicationReference is not None and not columns["display"]:
        columns["display"] = links.name(model.medicationReference) or ""
    dosage = "; ".join(filter(None, (d.text for d in model.dosageInstruction or [])))
    return {
        **columns,
        "intent": clip(model.intent, 64),
        "authored_on": instant(model.authoredOn),
        "dosage": dosage or None,
        "requester": links.name(model.requester) if model.requester else None,
        "reason": labels(model.reasonCode) or reference_names(model.reasonReference, links),
        "encounter_resource_id": links.row_id(model.encounter),
    }


def allergy(model: Any, links: Links) -> dict[str, Any]:
    reactions = "; ".join(filter(None, (labels(reaction.manifestation) for reaction in model.reaction or [])))
    return {
        **common(model, model.code),
        "status": code(model.clinicalStatus),
        "verification_status": code(model.verificationStatus),
        "allergy_type": clip(model.type, 64),
        "category": clip(", ".join(model.category or []) or None, 100),
        "criticality": clip(model.criticality, 64),
        "onset_at": instant(model.onsetDateTime) or period_start(model.onsetPeriod),
        "recorded_at": instant(model.recordedDate),
        "reactions": reactions or None,
    }


def condition(model: Any, links: Links) -> dict[str, Any]:
    return {
        **common(model, model.code),
        "status": code(model.clinicalStatus),
        "verification_status": code(model.verificationStatus),
        "category": clip(first_code(model.category), 100),
        "onset_at": instant(model.onsetDateTime) or period_start(model.onsetPeriod),
        "abatement_at": instant(model.abatementDateTime) or period_start(model.abatementPeriod),
        "recorded_at": instant(model.recordedDate),
        "encounter_resource_id": links.row_id(model.encounter),
    }


def procedure(model: Any, links: Links) -> dict[str, Any]:
    return {
        **common(model, model.code),
        "performed_start": instant(model.performedDateTime) or period_start(model.performedPeriod),
        "performed_end": period_end(model.performedPeriod),
        "reason": labels(model.reasonCode) or reference_names(model.reasonReference, links),
        "encounter_resource_id": links.row_id(model.encounter),
    }


Projection = Callable[[Any, Links], dict[str, Any]]

PROJECTIONS: dict[str, tuple[type[SQLModel], Projection]] = {
    "Encounter": (records.Encounter, encounter),
    "Observation": (records.Observation, observation),
    "DiagnosticReport": (records.DiagnosticReport, diagnostic_report),
    "DocumentReference": (records.ClinicalDocument, clinical_document),
    "Immunization": (records.Immunization, immunization),
    "MedicationRequest": (records.MedicationRequest, medication_request),
    "AllergyIntolerance": (records.Allergy, allergy),
    "Condition": (records.Condition, condition),
    "Procedure": (records.Procedure, procedure),
}


def resource_label(model: Any) -> str | None:
    """The name of a practitioner, organisation or place, for the pages that mention them."""
    names = getattr(model, "name", None)
    if isinstance(names, str):
        return names
    if isinstance(names, list) and names:
        name = names[0]
        if name.text:
            return str(name.text)
        parts = [*(name.prefix or []), *(name.given or []), name.family or ""]
        return " ".join(p for p in parts if p) or None
    return None


def patient_columns(model: Any) -> dict[str, Any]:
    names = model.name or []
    official = next((n for n in names if n.use == "official"), names[0] if names else None)
    deceased = bool(model.deceasedBoolean) or model.deceasedDateTime is not None
    return {
        "given_name": clip(" ".join(official.given or []) if official else "", 200) or "",
        "family_name": clip(official.family if official else "", 200) or "",
        "birth_date": model.birthDate if isinstance(model.birthDate, date) else None,
        "sex": clip(model.gender, 20),
        "deceased": deceased,
    }
