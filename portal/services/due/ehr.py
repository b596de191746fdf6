"""The EHR's own forecast: FHIR R4 ImmunizationRecommendation resources, shown as the EHR wrote them.

They are kept as they came in `fhir_resource`; the latest one (by its date) is the EHR's current word. A
limited view sees none that carries a confidential label, and no line for a vaccine group it may not see.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session, col

from portal.models.records import FhirResource
from portal.services.access import PatientScope
from portal.services.due.vaccines import CVX_SYSTEM, groups_of

RESOURCE_TYPE = "ImmunizationRecommendation"
# The two statements, built once (building them cost more than running them); the patient is a parameter.
_ALL = (
    select(col(FhirResource.resource_json))
    .where(col(FhirResource.patient_id) == bindparam("patient_id"))
    .where(col(FhirResource.resource_type) == RESOURCE_TYPE)
)
_NOT_CONFIDENTIAL = _ALL.where(col(FhirResource.confidential_reason).is_(None))


@dataclass(frozen=True)
class EhrRecommendation:
    vaccine: str
    status: str
    dose: int | None
    dates: list[tuple[str, date | None]]  # (what the date means, as the EHR says it; the date)
    description: str | None


def _label(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding") or []
    return str(
        concept.get("text")
        or next((c.get("display") for c in codings if c.get("display")), None)
        or next((c.get("code") for c in codings if c.get("code")), "")
    )


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _groups(item: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for concept in item.get("vaccineCode") or []:
        for coding in concept.get("coding") or []:
            if coding.get("system") == CVX_SYSTEM and coding.get("code"):
                found |= groups_of(str(coding["code"]))
    return found


def recommendations(
    session: Session, scope: PatientScope, hidden_groups: Collection[str]
) -> list[EhrRecommendation]:
    query = _ALL if scope.sees_confidential else _NOT_CONFIDENTIAL
    resources = [json.loads(text) for text in session.scalars(query, {"patient_id": scope.patient_id})]
    if not resources:
        return []
    latest = max(resources, key=lambda r: str(r.get("date") or ""))
    shown = []
    for item in latest.get("recommendation") or []:
        if not isinstance(item, dict) or (hidden_groups and _groups(item) & set(hidden_groups)):
            continue
        vaccine = ", ".join(filter(None, map(_label, item.get("vaccineCode") or []))) or _label(
            item.get("targetDisease")
        )
        dose = item.get("doseNumberPositiveInt")
        shown.append(
            EhrRecommendation(
                vaccine=vaccine,
                status=_label(item.get("forecastStatus")),
                dose=dose if isinstance(dose, int) else None,
                dates=[
                    (_label(d.get("code")), _day(d.get("value"))) for d in item.get("dateCriterion") or []
                ],
                description=item.get("description") if isinstance(item.get("description"), str) else None,
            )
        )
    return shown
