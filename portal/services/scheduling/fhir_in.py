"""The EHR's calendar in: FHIR R4 Schedule, Slot and Appointment resources from a Bundle or NDJSON file
(`portal appointments import`). Each resource is validated with its fhir.resources R4B model first; a bad
file changes nothing. A Slot the EHR marks busy is stored busy and never offered; an Appointment becomes
the patient's upcoming visit. Importing the same file again changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError
from sqlmodel import Session, select

from portal.models.people import Patient
from portal.models.scheduling import Appointment, ClinicLocation, ImportedSlot, Provider, VisitType
from portal.services.scheduling import fhir_out

TYPES = ("Schedule", "Slot", "Appointment")
CONFIDENTIAL_CODES = frozenset({"R", "V"})


class CalendarRefused(ValueError):
    """The file cannot be imported: the message names the entry and the problem."""


def read_file(path: Path) -> list[dict[str, Any]]:
    """The Schedule, Slot and Appointment resources of a Bundle (.json) or NDJSON file, validated."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".ndjson":
        items = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        data = json.loads(text)
        items = (
            [e.get("resource", {}) for e in data.get("entry", [])]
            if data.get("resourceType") == "Bundle"
            else [data]
        )
    wanted = [r for r in items if isinstance(r, dict) and r.get("resourceType") in TYPES]
    for number, item in enumerate(wanted, 1):
        try:
            get_fhir_model_class(item["resourceType"]).model_validate(item)
        except ValidationError as error:
            raise CalendarRefused(
                f"entry {number} ({item['resourceType']}): {error.errors()[0]['msg']}"
            ) from None
    return sorted(wanted, key=lambda r: TYPES.index(r["resourceType"]))


def _id(reference: str | None, kind: str) -> str | None:
    if reference and reference.startswith(f"{kind}/"):
        return reference.split("/", 1)[1][:64]
    return None


def _instant(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise CalendarRefused(f"time without a zone: {value}")
    return moment


def _provider(session: Session, actor: dict[str, Any]) -> Provider | None:
    fhir_id = _id(actor.get("reference"), "Practitioner")
    if fhir_id is None:
        return None
    found = session.exec(select(Provider).where(Provider.fhir_id == fhir_id)).first()
    if found is None:
        found = Provider(fhir_id=fhir_id, name=str(actor.get("display") or "Clinician")[:200])
        session.add(found)
        session.flush()
    return found


def _place(session: Session, actor: dict[str, Any]) -> ClinicLocation | None:
    fhir_id = _id(actor.get("reference"), "Location")
    if fhir_id is None:
        return None
    found = session.exec(select(ClinicLocation).where(ClinicLocation.fhir_id == fhir_id)).first()
    if found is None:
        found = ClinicLocation(fhir_id=fhir_id, name=str(actor.get("display") or "Clinic")[:200])
        session.add(found)
        session.flush()
    return found


def _code(resource: dict[str, Any]) -> str | None:
    for concept in resource.get("serviceType", []):
        for coding in concept.get("coding", []):
            if coding.get("code"):
                return str(coding["code"])[:40]
    return None


def import_calendar(session: Session, resources: list[dict[str, Any]]) -> Counter[str]:
    """Store the resources (Schedules first, then Slots, then Appointments); counts of what changed."""
    schedules: dict[str, tuple[Provider | None, ClinicLocation | None]] = {}
    counts: Counter[str] = Counter()
    for item in resources:
        kind = item["resourceType"]
        if kind == "Schedule":
            actors = [a for a in item.get("actor", []) if isinstance(a, dict)]
            provider = next((p for a in actors if (p := _provider(session, a))), None)
            place = next((loc for a in actors if (loc := _place(session, a))), None)
            schedules[f"Schedule/{item['id']}"] = (provider, place)
            counts["Schedule"] += 1
        elif kind == "Slot":
            counts["Slot"] += _slot(session, item, schedules)
        else:
            counts["Appointment"] += _appointment(session, item)
    return counts


def _slot(session: Session, item: dict[str, Any], schedules: dict[str, Any]) -> int:
    provider, place = schedules.get(item.get("schedule", {}).get("reference", ""), (None, None))
    if provider is None:
        raise CalendarRefused(f"Slot {item.get('id')}: its Schedule names no Practitioner in this file")
    fields = {
        "provider_id": provider.id,
        "location_id": place.id if place else None,
        "visit_type_code": _code(item),
        "start_at": _instant(item["start"]),
        "end_at": _instant(item["end"]),
        "status": str(item["status"])[:20],
    }
    row = session.exec(select(ImportedSlot).where(ImportedSlot.fhir_id == str(item["id"])[:64])).first()
    if row is not None and all(getattr(row, k) == v for k, v in fields.items()):
        return 0
    row = row or ImportedSlot(fhir_id=str(item["id"])[:64], **fields)
    for key, value in fields.items():
        setattr(row, key, value)
    session.add(row)
    session.flush()
    return 1


def _appointment(session: Session, item: dict[str, Any]) -> int:
    actors = [p.get("actor", {}) for p in item.get("participant", [])]
    patient_id = next((i for a in actors if (i := _id(a.get("reference"), "Patient"))), None)
    patient = (
        session.exec(select(Patient).where(Patient.fhir_id == patient_id)).first() if patient_id else None
    )
    if patient is None or "start" not in item:
        return 0  # not one of the portal's patients, or not yet given a time
    provider = next((p for a in actors if (p := _provider(session, a))), None)
    place = next((loc for a in actors if (loc := _place(session, a))), None)
    code = _code(item)
    visit_type = session.exec(select(VisitType).where(VisitType.code == code)).first() if code else None
    security = {s.get("code") for s in item.get("meta", {}).get("security", [])}
    fields: dict[str, Any] = {
        "patient_id": patient.id,
        "start_at": _instant(item["start"]),
        "end_at": _instant(item.get("end") or item["start"]),
        "status": str(item.get("status", "booked"))[:20],
        "reason": item.get("comment"),
        "confidential": bool(security & CONFIDENTIAL_CODES) or bool(visit_type and visit_type.confidential),
        "video_url": _video(item),
    }
    # What the file names no known provider, place or type for stays as the portal has it.
    fields.update(
        {
            name: value.id
            for name, value in (
                ("provider_id", provider),
                ("location_id", place),
                ("visit_type_id", visit_type),
            )
            if value is not None
        }
    )
    fhir_id = str(item["id"])[:64]
    row = session.exec(select(Appointment).where(Appointment.fhir_id == fhir_id)).first()
    if row is not None and all(getattr(row, k) == v for k, v in fields.items()):
        return 0
    row = row or Appointment(fhir_id=fhir_id, source="ehr", **fields)
    for key, value in fields.items():
        setattr(row, key, value)
    fhir_out.store(session, row, visit_type)
    return 1


def _video(item: dict[str, Any]) -> str | None:
    """The join link the EHR sent (an extension or a virtual-service url), shown only in the portal."""
    for extension in item.get("extension", []):
        url = extension.get("valueUrl")
        if isinstance(url, str) and url.startswith("https://"):
            return url[:500]
    return None
