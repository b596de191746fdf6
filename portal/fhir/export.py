"""FHIR R4 export: everything held for one patient as a Bundle of type `collection`.

Each resource is the JSON the EHR sent, with its original id. References are rewritten to the relative
`Type/id` form (the EHR's `urn:uuid:` and conditional references only make sense inside the file they came
in), and the practitioners, organisations and places they point at are included, so the bundle stands alone.

The bundle is what the patient scope may see: resources whose projected rows the visibility rule hides
(a held result, a confidential item for a limited view) are left out, and so is anything reached only
through them. The operator's command-line export opens a scope that hides nothing
(`records.operator_export`).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from portal.fhir.references import Key, Resolver, reference_strings, rewrite_references
from portal.models.base import utcnow
from portal.models.people import Patient
from portal.models.records import FhirResource
from portal.services import visibility
from portal.services.access import PatientScope

MAX_DEPTH = 4


def patient_bundle(session: Session, scope: PatientScope) -> dict[str, Any]:
    """The patient's record as this scope sees it, as a FHIR R4 collection Bundle (a dict)."""
    hidden = visibility.hidden_resource_ids(session, scope, visibility.RECORD_TABLES)
    return _bundle(session, scope.patient, hidden)


def _bundle(session: Session, patient: Patient, hidden: set[int]) -> dict[str, Any]:
    rows = [
        row
        for row in session.scalars(
            select(FhirResource)
            .where(col(FhirResource.patient_id) == patient.id)
            .order_by(col(FhirResource.id))
        )
        if row.id not in hidden
    ]
    held: dict[Key, dict[str, Any]] = {
        (row.resource_type, row.fhir_id): json.loads(row.resource_json) for row in rows
    }
    resolver = Resolver()
    for key, resource in held.items():
        resolver.add(key, resource)
    mapping: dict[str, str] = {}
    frontier = list(held.values())
    for _ in range(MAX_DEPTH):  # what the record points at, what that points at, and so on
        references = {ref for resource in frontier for ref in reference_strings(resource)} - set(mapping)
        resolver.load_from_database(session, references)
        wanted: set[int] = set()
        for reference in references:
            target = resolver.resolve_local(reference)
            if target is None:
                continue
            mapping[reference] = f"{target[0]}/{target[1]}"
            if target not in held and target in resolver.row_ids:
                wanted.add(resolver.row_ids[target])
        if not wanted:
            break
        frontier = []
        for row in session.scalars(select(FhirResource).where(col(FhirResource.id).in_(sorted(wanted)))):
            # never another patient's resource, nor one the scope may not see
            if row.patient_id in (None, patient.id) and row.id not in hidden:
                held[(row.resource_type, row.fhir_id)] = resource = json.loads(row.resource_json)
                frontier.append(resource)
    ordered = sorted(held.items(), key=lambda item: item[0][0] != "Patient")  # the patient first
    entries = [{"resource": rewrite_references(resource, mapping)} for _, resource in ordered]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": utcnow().isoformat(timespec="seconds"),
        "entry": entries,
    }
