"""The demo clinic: what `portal demo` (and `make run`) puts in the embedded database."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

from sqlalchemy import Engine

import portal
from portal.config import Settings
from portal.fhir import dates, importer

PROJECT_ROOT = Path(portal.__file__).resolve().parents[1]
SHARED_FHIR = PROJECT_ROOT.parent / "shared" / "fhir" / "synthea"  # the Synthea sample patients, if present
PROJECT_FHIR = PROJECT_ROOT / "data" / "fhir"  # the project's own small sample


def create(settings: Settings, engine: Engine) -> Iterator[str]:
    """Fill the database with the demo clinic, yielding lines that tell the operator how to sign in."""
    yield f"Demo clinic: {settings.clinic_name}"
    yield f"Database: {engine.url.render_as_string(hide_password=True)}"
    yield import_sample_records(engine)
    yield f"Open {settings.origin}/login in a browser (use localhost, not 127.0.0.1: passkeys need a name)."


def sample_record_paths() -> list[Path]:
    paths = [PROJECT_FHIR]
    if SHARED_FHIR.is_dir():
        paths.insert(0, SHARED_FHIR)
    return paths


def import_sample_records(engine: Engine, *, today: date | None = None) -> str:
    """Import the sample patients, each moved in time so that their newest data is a few weeks old."""
    day = today or date.today()
    summary = importer.import_paths(
        engine, sample_record_paths(), transform=lambda resources: dates.shift_to_recent(resources, day)
    )
    patients = summary.total("created")["Patient"] + summary.total("updated")["Patient"]
    count = sum(summary.total("resources").values())
    line = f"Sample records: {count} resources for {patients} new or updated patients"
    if summary.failed:
        line += f" ({len(summary.failed)} files refused)"
    return line
