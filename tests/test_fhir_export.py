"""FHIR R4 export: one patient's record as a collection Bundle, with the original ids and values."""

from __future__ import annotations

import json
import random
from datetime import date
from pathlib import Path

from click.testing import CliRunner
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from portal import db
from portal.cli import main
from portal.fhir import importer
from portal.models import AuditEvent, Patient
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access, audit, records
from tests.fhir_bundles import SYNTHEA, distinct_counts, patient_resources, resources_in, write_bundle

CLINICAL_TYPES = ("Observation", "Immunization", "MedicationRequest", "Condition", "AllergyIntolerance")


def without_references(node):
    """The resource with reference strings blanked: export rewrites them to Type/id on purpose."""
    if isinstance(node, dict):
        return {k: "REF" if k == "reference" else without_references(v) for k, v in node.items()}
    if isinstance(node, list):
        return [without_references(v) for v in node]
    return node


def clinical(resources) -> dict[tuple[str, str], dict]:
    return {
        (r["resourceType"], r["id"]): without_references(r)
        for r in resources
        if r["resourceType"] in CLINICAL_TYPES
    }


def exported(engine, patient_id: str) -> dict:
    with db.transaction(engine) as session:
        operator = access.Operator(
            date.today(), access.AgeRules(), utcnow(), Provenance(route="cli:export_fhir")
        )
        bundle = records.operator_export(session, operator, patient_id)  # what `portal export-fhir` writes
    assert bundle is not None
    return bundle


def patient_id_of(resources) -> str:
    return next(r["id"] for r in resources if r["resourceType"] == "Patient")


def test_export_returns_every_clinical_resource_with_the_same_ids_and_values(engine, tmp_path) -> None:
    resources = patient_resources(random.Random(), visits=3)
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])

    bundle = exported(engine, patient_id_of(resources))

    assert clinical(entry["resource"] for entry in bundle["entry"]) == clinical(resources)


def test_export_of_a_synthea_patient_matches_the_source(engine) -> None:
    path = min(SYNTHEA.glob("*.json.gz"), key=lambda p: p.stat().st_size)
    source = resources_in(path)
    importer.import_paths(engine, [path])

    bundle = exported(engine, patient_id_of(source))

    assert clinical(entry["resource"] for entry in bundle["entry"]) == clinical(source)


def test_export_is_a_valid_r4_collection_bundle_with_references_in_the_bundle(engine, tmp_path) -> None:
    resources = patient_resources(random.Random())
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])

    bundle = exported(engine, patient_id_of(resources))

    Bundle.model_validate(bundle)
    assert bundle["type"] == "collection"
    held = {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in bundle["entry"]}
    references = {ref for e in bundle["entry"] for ref in _references(e["resource"])}
    assert references and references <= held


def _references(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def test_export_holds_nothing_of_another_patient(engine, tmp_path) -> None:
    rng = random.Random()
    mine, theirs = patient_resources(rng), patient_resources(rng)
    importer.import_paths(
        engine, [write_bundle(tmp_path / "a.json", mine), write_bundle(tmp_path / "b.json", theirs)]
    )

    bundle = exported(engine, patient_id_of(mine))

    ids = {entry["resource"]["id"] for entry in bundle["entry"]}
    assert ids == {r["id"] for r in mine}


def test_exported_bundle_imports_into_an_empty_database_with_the_same_counts(engine, tmp_path) -> None:
    resources = patient_resources(random.Random())
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported(engine, patient_id_of(resources))))
    fresh = db.make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    audit.use_chain_key(fresh, "another-clinic-secret-key-of-sufficient-length")
    db.upgrade(fresh)

    summary = importer.import_paths(fresh, [path])

    fresh.dispose()
    assert summary.failed == []
    assert summary.total("created") == distinct_counts(resources)


def test_importing_our_own_export_again_changes_nothing(engine, tmp_path) -> None:
    resources = patient_resources(random.Random())
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(exported(engine, patient_id_of(resources))))

    summary = importer.import_paths(engine, [path])

    assert summary.failed == []
    assert summary.total("unchanged") == distinct_counts(resources)
    assert summary.total("updated") == {}


def run_cli(settings, *args: str):
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_cli_prints_the_bundle_on_stdout_and_audits_the_export(
    engine, session, settings, tmp_path: Path
) -> None:
    resources = patient_resources(random.Random(), visits=1)
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])

    result = run_cli(settings, "export-fhir", patient_id_of(resources))

    assert result.exit_code == 0
    bundle = json.loads(result.stdout)
    assert {e["resource"]["id"] for e in bundle["entry"]} == {r["id"] for r in resources}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one()
    patient = session.scalars(select(Patient).where(Patient.fhir_id == patient_id_of(resources))).one()
    assert (event.action, event.patient_id, event.resource_id) == ("export", patient.id, patient.public_id)


def test_cli_refuses_an_unknown_patient(settings) -> None:
    result = run_cli(settings, "export-fhir", "no-such-patient")

    assert result.exit_code != 0
    assert "no patient with that FHIR id" in result.stderr
    assert result.stdout == ""
