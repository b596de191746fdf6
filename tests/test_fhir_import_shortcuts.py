"""The import's shortcuts give what the plain way gives: one walk for references and codings, reference
rewriting in the JSON text, and PostgreSQL's driver-level INSERT of projection rows."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sqlalchemy import select
from sqlmodel import Session

from portal.fhir import confidentiality, importer, reading, rows
from portal.fhir.references import reference_strings, rewrite_references
from portal.models.records import FhirIdentifier, FhirResource
from tests.fhir_bundles import SAMPLE_BUNDLE, SYNTHEA, patient_resources, resources_in, write_bundle

AWKWARD = {  # codings where they count and where they do not, references everywhere, escapes in strings
    "resourceType": "Observation",
    "id": "awkward",
    "meta": {"security": [{"system": "s", "code": "R"}], "source": {"reference": "Device/in-meta"}},
    "text": {"status": "generated", "div": '<div>"quoted"</div>', "code": "not-a-coding"},
    "code": {"coding": [{"system": "http://loinc.org", "code": "1-8"}, {"code": "no-system"}]},
    "subject": {"reference": 'Patient/with"quote'},
    "contained": [{"resourceType": "Patient", "id": "p", "managingOrganization": {"reference": "#org"}}],
    "hasMember": [{"reference": "Observation/a\nb"}, {"reference": "Observation/é"}, [{"code": "nested"}]],
    "note": [{"text": "\\"}],
}


def sample_resources() -> list[dict]:
    paths = [SAMPLE_BUNDLE, *sorted(SYNTHEA.glob("*.json.gz"))[:3]]
    return [AWKWARD, *(resource for path in paths for resource in resources_in(path))]


def test_one_walk_finds_what_the_two_walks_find_in_the_same_order() -> None:
    for resource in sample_resources():
        references, codings = confidentiality.references_and_codings(resource)

        assert references == list(reference_strings(resource))
        assert codings == list(confidentiality.codings(resource))
    assert sorted(confidentiality.references_and_codings(AWKWARD)[1], key=str) == [
        ("http://loinc.org", "1-8"),
        (None, "nested"),
        (None, "no-system"),
    ]


def test_rewriting_references_in_the_text_equals_dumping_the_rewritten_resource() -> None:
    rng = random.Random(7)
    for resource in sample_resources():
        found = list(reference_strings(resource))
        mapping = {reference: f"Type/{rng.randrange(10**6)}" for reference in found if rng.random() < 0.8}
        mapping['Patient/with"quote'] = 'Patient/"still quoted"'
        text = json.dumps(resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

        rewritten = reading.canonical_text(text, reading.reference_replacements(mapping))

        expected = rewrite_references(resource, mapping)
        assert rewritten == json.dumps(expected, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def test_rows_left_without_a_column_get_its_default_on_every_database(app, tmp_path: Path) -> None:
    engine = app.state.engine
    summary = importer.import_paths(
        engine, [write_bundle(tmp_path / "one.json", patient_resources(random.Random(3)))]
    )
    assert summary.failed == []
    with Session(engine) as session:
        resource_id = session.scalars(select(FhirResource.id).limit(1)).one()
        rows.insert_rows(
            session,
            FhirIdentifier,
            [{"resource_id": resource_id, "resource_type": "Patient", "value": f"v{n}"} for n in range(3)],
        )
        session.commit()
        stored = session.exec(
            select(FhirIdentifier).where(FhirIdentifier.value.in_(["v0", "v1", "v2"]))
        ).all()

    assert sorted((row.value, row.system, row.resource_id) for (row,) in stored) == [
        (f"v{n}", "", resource_id) for n in range(3)
    ]
