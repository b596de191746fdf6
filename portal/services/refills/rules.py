"""What can be refilled online, and the clinic's lists the request form offers.

A medicine is not refilled online, and the page says why and gives the clinic's phone number, when:
- the EHR sends a DEA schedule for it (a controlled substance), in an extension or a coding of the
  MedicationRequest, a Medication it contains, or the Medication it points at;
- the clinic lists its RxNorm code (portal/data/refill_not_online.csv, which names its source);
- the EHR marks it not refillable: `dispenseRequest.numberOfRepeatsAllowed` 0, `doNotPerform`, or a status
  other than active.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from portal.models.records import MedicationRequest

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
# The FDA's structured product labels code the DEA schedule with these NCI Thesaurus concepts.
NCI_THESAURUS = frozenset({"urn:oid:2.16.840.1.113883.3.26.1.1", "http://ncithesaurus-stage.nci.nih.gov"})
NCI_DEA_SCHEDULES = {"C48672": "CI", "C48675": "CII", "C48676": "CIII", "C48677": "CIV", "C48679": "CV"}
# Words that mark an extension or code system as carrying a DEA schedule (EHRs name it in their own URLs).
SCHEDULE_MARKERS = ("dea-schedule", "deaschedule", "dea_schedule", "controlled-substance", "csa-schedule")
SCHEDULE_VALUES = frozenset({"1", "2", "3", "4", "5", "I", "II", "III", "IV", "V"})

# Why a medicine is not refilled online (Refused codes and the page's reason): the clinic's list uses the
# first three, the EHR's own marks the others.
CONTROLLED = "controlled"
IN_CLINIC = "in-clinic"
MONITORING = "monitoring"
NO_REFILLS = "no-refills"
NOT_ACTIVE = "not-active"
REASONS = (CONTROLLED, IN_CLINIC, MONITORING, NO_REFILLS, NOT_ACTIVE)

# A request's statuses: what the patient sees, and what the EHR's Task status says (see fhir.py).
PENDING, APPROVED, DENIED, NEEDS_VISIT, CANCELLED = (
    "pending",
    "approved",
    "denied",
    "needs_visit",
    "cancelled",
)
STATUSES = (PENDING, APPROVED, DENIED, NEEDS_VISIT, CANCELLED)
DECISIONS = (APPROVED, DENIED, NEEDS_VISIT)

MAX_DAYS_LEFT = 365
MAX_NOTE = 1000
MAX_OTHER_PHARMACY = 300
MAX_QUANTITY = 1000
MAX_REFILLS = 11  # a year of monthly fills after the first
OTHER = "other"


@dataclass(frozen=True)
class Pharmacy:
    id: str
    name: str
    address: str
    phone: str


def _rows(name: str) -> Iterator[dict[str, str]]:
    text = resources.files("portal.data").joinpath(name).read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    yield from csv.DictReader(lines)


@cache
def pharmacies() -> tuple[Pharmacy, ...]:
    """The clinic's list of nearby pharmacies (portal/data/pharmacies.csv)."""
    return tuple(Pharmacy(r["id"], r["name"], r["address"], r["phone"]) for r in _rows("pharmacies.csv"))


def pharmacy(pharmacy_id: str | None) -> Pharmacy | None:
    return next((p for p in pharmacies() if p.id == pharmacy_id), None)


@cache
def clinic_list() -> dict[str, str]:
    """RxNorm code -> reason, for the medicines the clinic does not refill online."""
    return {row["rxcui"]: row["reason"] for row in _rows("refill_not_online.csv")}


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _marked(text: Any) -> bool:
    lowered = str(text or "").lower()
    return any(marker in lowered for marker in SCHEDULE_MARKERS)


def dea_schedule(*resources_json: dict[str, Any]) -> str | None:
    """The DEA schedule the EHR sent anywhere in these resources (extensions or codings), or None."""
    for resource in resources_json:
        for node in _walk(resource):
            system, code = node.get("system"), node.get("code")
            if system in NCI_THESAURUS and code in NCI_DEA_SCHEDULES:
                return NCI_DEA_SCHEDULES[str(code)]
            if _marked(system) and code:
                return str(code)
            if "url" in node and _marked(node["url"]):
                for key, value in node.items():
                    if not key.startswith("value"):
                        continue
                    if (
                        isinstance(value, str | int)
                        and str(value).upper().removeprefix("C") in SCHEDULE_VALUES
                    ):
                        return str(value)
                    for coding in _walk(value):
                        if coding.get("code"):
                            return str(coding["code"])
    return None


def not_refillable_reason(
    medication: MedicationRequest, resource_json: str, referenced: list[str] | None = None
) -> str | None:
    """Why this medicine cannot be refilled online (one of REASONS), or None when it can."""
    try:
        resource = json.loads(resource_json)
    except ValueError:
        resource = {}
    others = [json.loads(text) for text in referenced or []]
    if dea_schedule(resource, *others):
        return CONTROLLED
    codes = {
        str(coding.get("code"))
        for concept in [resource.get("medicationCodeableConcept"), *(o.get("code") for o in others)]
        if isinstance(concept, dict)
        for coding in concept.get("coding", [])
        if coding.get("system") == RXNORM
    }
    if medication.code_system == RXNORM and medication.code:
        codes.add(medication.code)
    listed = [clinic_list()[code] for code in sorted(codes) if code in clinic_list()]
    if listed:
        return listed[0]
    repeats = (resource.get("dispenseRequest") or {}).get("numberOfRepeatsAllowed")
    if repeats == 0:
        return NO_REFILLS
    if medication.status != "active" or resource.get("doNotPerform") is True:
        return NOT_ACTIVE
    return None
