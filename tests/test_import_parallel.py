"""FHIR import on several worker processes: the same database as a serial import, the same refusals, the
same CLI output, an audit chain that verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import date
from functools import partial
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import OperationalError
from sqlmodel import SQLModel

from portal.cli import main
from portal.fhir import dates, importer, parallel, reading
from portal.models import FhirResource
from tests.fhir_bundles import SAMPLE_BUNDLE, SYNTHEA, USCORE_BULK, patient_resources, write_bundle


def emptied(engine) -> None:
    """Every table emptied, as a fresh database (the audit log too)."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(SQLModel.metadata.sorted_tables):
                conn.execute(delete(table))


def content(engine) -> tuple[dict[str, int], dict[tuple[str, str], tuple]]:
    """Rows per table, and every stored resource's content, hash, label and confidentiality."""
    with engine.connect() as conn:
        counts = {
            table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
            for table in SQLModel.metadata.sorted_tables
        }
        rows = conn.execute(
            select(
                FhirResource.resource_type,
                FhirResource.fhir_id,
                FhirResource.content_hash,
                FhirResource.resource_json,
                FhirResource.label,
                FhirResource.confidential_reason,
            )
        )
        resources = {(row[0], row[1]): tuple(row[2:]) for row in rows}
    return counts, resources


def run_cli(settings, *args: str):
    env = {"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(settings.data_dir)}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def sharing_a_practitioner(rng) -> tuple[list[dict], list[dict]]:
    """Two patients' records that carry the same Practitioner (and point at it)."""
    first, second = patient_resources(rng, visits=2), patient_resources(rng, visits=2)
    doctor, other = first[1], second[1]
    assert doctor["resourceType"] == other["resourceType"] == "Practitioner"
    second_text = json.dumps(second[:1] + second[2:]).replace(other["id"], doctor["id"])
    return first, [doctor, *json.loads(second_text)]


def test_a_parallel_import_of_the_sample_patients_equals_a_serial_one(engine) -> None:
    files = reading.collect_files([SYNTHEA, SAMPLE_BUNDLE])
    serial = importer.import_paths(engine, files)
    serial_content = content(engine)
    emptied(engine)

    summary = parallel.import_paths(engine, files, jobs=2)

    assert summary.failed == [] and serial.failed == []
    assert [result.path for result in summary.files] == files
    for name in ("resources", "created", "updated", "unchanged", "unknown", "skipped"):
        assert summary.total(name) == serial.total(name)
    counts, resources = content(engine)
    assert counts == serial_content[0]
    assert counts["fhir_resource"] == sum(serial.total("created").values())
    assert sum(serial.total("unchanged").values()) > 0  # the bundles share some Practitioners
    assert resources == serial_content[1]


def test_a_parallel_import_of_a_bulk_export_equals_a_serial_one(engine) -> None:
    files = reading.collect_files([USCORE_BULK])  # one file per type, each pointing at earlier ones
    serial = importer.import_paths(engine, files)
    serial_content = content(engine)
    emptied(engine)

    summary = parallel.import_paths(engine, files, jobs=2)

    assert summary.failed == [] and serial.failed == []
    assert [result.path for result in summary.files] == [result.path for result in serial.files]
    assert summary.total("created") == serial.total("created")
    assert content(engine) == serial_content


def test_two_files_carrying_the_same_practitioner_both_import_side_by_side(engine, rng, tmp_path) -> None:
    first, second = sharing_a_practitioner(rng)
    paths = [write_bundle(tmp_path / "a.json", first), write_bundle(tmp_path / "b.json", second)]

    summary = parallel.import_paths(engine, paths, jobs=2)

    assert summary.failed == []
    assert summary.total("resources")["Practitioner"] == 2
    assert summary.total("created")["Practitioner"] == 1 and summary.total("unchanged")["Practitioner"] == 1
    with engine.connect() as conn:
        practitioners = conn.execute(
            select(func.count()).where(FhirResource.resource_type == "Practitioner")
        ).scalar_one()
        patients = conn.execute(select(func.count()).where(FhirResource.resource_type == "Patient"))
        assert (practitioners, patients.scalar_one()) == (1, 2)


def test_a_file_pointing_at_a_later_file_goes_in_once_that_one_is_in(engine, rng, tmp_path) -> None:
    first, second = sharing_a_practitioner(rng)
    doctor = first[1]
    # a.json comes first but only points at the Practitioner, which only b.json carries
    pointing = json.loads(
        json.dumps(second[1:]).replace(f'"urn:uuid:{doctor["id"]}"', f'"Practitioner/{doctor["id"]}"')
    )
    paths = [write_bundle(tmp_path / "a.json", pointing), write_bundle(tmp_path / "b.json", first)]
    serial = importer.import_paths(engine, paths)
    emptied(engine)

    summary = parallel.import_paths(engine, paths, jobs=2)

    assert serial.failed == [] and summary.failed == []
    assert [result.path.name for result in summary.files] == ["b.json", "a.json"]  # as the serial import
    assert [result.path.name for result in serial.files] == ["b.json", "a.json"]


def test_a_bad_file_among_good_ones_is_refused_with_its_message_and_the_others_go_in(
    engine, rng, tmp_path
) -> None:
    for name in ("a", "c", "d"):
        write_bundle(tmp_path / f"{name}.json", patient_resources(rng, visits=1))
    broken = patient_resources(rng, visits=1)
    broken[2]["birthDate"] = "not a date"
    write_bundle(tmp_path / "b.json", broken)
    serial_message = importer.import_file(engine, tmp_path / "b.json").message

    summary = parallel.import_paths(engine, [tmp_path], jobs=2)

    assert [result.message for result in summary.failed] == [serial_message]
    assert "entry 2 (Patient/" in serial_message and "birthDate" in serial_message
    assert [result.path.name for result in summary.files if result.ok] == ["a.json", "c.json", "d.json"]
    with engine.connect() as conn:
        patients = conn.execute(select(func.count()).where(FhirResource.resource_type == "Patient"))
        assert patients.scalar_one() == 3


def test_a_file_the_database_refuses_in_a_worker_is_imported_again_alone(
    engine, rng, tmp_path, monkeypatch
) -> None:
    paths = [write_bundle(tmp_path / f"{n}.json", patient_resources(rng, visits=1)) for n in range(3)]
    parent = os.getpid()
    write = importer._write

    def locked_in_workers(session, items, result):
        if os.getpid() != parent:  # the workers are forked: they run this too
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        write(session, items, result)

    monkeypatch.setattr(importer, "_write", locked_in_workers)

    summary = parallel.import_paths(engine, paths, jobs=2)

    assert summary.failed == []
    assert summary.total("created")["Patient"] == 3


def test_a_transform_that_cannot_go_to_another_process_still_applies(engine, rng, tmp_path) -> None:
    paths = [write_bundle(tmp_path / f"{n}.json", patient_resources(rng, visits=1)) for n in range(2)]

    def born_on_new_year(resources):
        for resource in resources:
            if resource["resourceType"] == "Patient":
                resource["birthDate"] = "2001-01-01"

    summary = parallel.import_paths(engine, paths, transform=born_on_new_year, jobs=2)

    assert summary.failed == []
    with engine.connect() as conn:
        stored = conn.execute(
            select(FhirResource.resource_json).where(FhirResource.resource_type == "Patient")
        )
        assert {json.loads(row[0])["birthDate"] for row in stored} == {"2001-01-01"}


def test_the_demos_date_shift_goes_to_the_workers_and_shifts_as_in_one_process(engine, tmp_path) -> None:
    shift = partial(dates.shift_to_recent, today=date(2030, 6, 1))
    files = [SAMPLE_BUNDLE, *reading.collect_files([SYNTHEA])[:2]]
    importer.import_paths(engine, files, transform=shift)
    serial_content = content(engine)
    emptied(engine)

    summary = parallel.import_paths(engine, files, transform=shift, jobs=2)

    assert summary.failed == []
    assert content(engine) == serial_content


def test_cli_with_two_jobs_prints_what_one_job_prints_and_the_audit_chain_verifies(
    engine, rng, tmp_path, settings
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a", "b", "c", "d"):
        write_bundle(folder / f"{name}.json", patient_resources(rng))
    (folder / "e.json").write_text("{not json")
    one_job = run_cli(settings, "import-fhir", "--jobs", "1", str(folder))
    emptied(engine)

    two_jobs = run_cli(settings, "import-fhir", "--jobs", "2", str(folder))
    verify = run_cli(settings, "audit", "verify")

    assert (two_jobs.exit_code, two_jobs.stdout, two_jobs.stderr.splitlines()[-1]) == (
        one_job.exit_code,
        one_job.stdout,
        one_job.stderr.splitlines()[-1],
    )
    assert "files: 4 imported, 1 refused" in two_jobs.stdout
    assert verify.exit_code == 0, verify.output
    assert "verified: 4 events" in verify.stdout  # one per new patient


def test_cli_refuses_a_jobs_count_below_one(settings, tmp_path) -> None:
    result = CliRunner().invoke(
        main,
        ["import-fhir", "--jobs", "0", str(SAMPLE_BUNDLE)],
        env={"DATABASE_URL": settings.database_url, "PORTAL_DATA_DIR": str(tmp_path)},
    )

    assert result.exit_code == 2
    assert "--jobs" in result.output


def test_when_two_files_carry_one_resource_differently_the_later_file_wins_as_in_a_serial_import(
    engine, rng, tmp_path
) -> None:
    first, second = sharing_a_practitioner(rng)
    first = first + patient_resources(rng, visits=30)  # the earlier file takes longer to validate
    renamed = json.loads(json.dumps(second))
    renamed[0]["name"] = [{"family": "Renamed", "given": ["Pat"]}]  # no versions: the latest import wins
    paths = [write_bundle(tmp_path / "a.json", first), write_bundle(tmp_path / "b.json", renamed)]

    summary = parallel.import_paths(engine, paths, jobs=2)

    assert [result.message for result in summary.failed] == []
    assert summary.total("updated")["Practitioner"] == 1
    with engine.connect() as conn:
        stored = conn.execute(
            select(FhirResource.resource_json).where(FhirResource.fhir_id == first[1]["id"])
        ).scalar_one()
    assert json.loads(stored)["name"][0]["family"] == "Renamed"


def children_of(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def ended(pid: int) -> bool:
    """Whether the process is gone (or a zombie waiting for whoever adopted it to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state == "Z"


def test_the_workers_end_when_the_import_is_killed(tmp_path) -> None:
    """kill -9 of `portal import-fhir` (or the kernel's out-of-memory killer) must not leave its workers
    waiting forever with a database connection open."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/portal.db", "PORTAL_DATA_DIR": str(tmp_path)}
    importing = subprocess.Popen(
        [sys.executable, "-m", "portal", "import-fhir", "--jobs", "2", str(SYNTHEA)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 60
        while len(workers) < 2 and importing.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            workers = children_of(importing.pid)
        assert len(workers) >= 2, "the import did not start its workers"
    finally:
        importing.kill()
        importing.wait()
    deadline = time.monotonic() + 10
    while not all(ended(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert all(ended(pid) for pid in workers), "a worker outlived the import"
