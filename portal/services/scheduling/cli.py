"""`portal appointments`: import the EHR's Schedules, Slots and Appointments; export the portal's
appointments (new, changed, cancelled) as NDJSON for the EHR."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import click

from portal import db
from portal.commands import load_settings, open_engine
from portal.services.scheduling import fhir_in, fhir_out


@click.group(name="appointments")
def appointments_group() -> None:
    """The clinic's calendar and appointments, to and from the EHR."""


@appointments_group.command(name="import")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def appointments_import(paths: tuple[Path, ...]) -> None:
    """Import FHIR R4 Schedule, Slot and Appointment resources (Bundle .json or .ndjson), a file at a time."""
    failed = False
    with open_engine(load_settings(), upgrade=True) as engine:
        for path in paths:
            try:
                resources = fhir_in.read_file(path)
                with db.transaction(engine) as session:
                    counts = fhir_in.import_calendar(session, resources)
            except (fhir_in.CalendarRefused, ValueError, KeyError) as error:
                click.echo(f"{path}: refused: {error}", err=True)
                failed = True
                continue
            changed = ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing new"
            click.echo(f"{path}: {changed}")
    if failed:
        sys.exit(1)


@appointments_group.command(name="export")
@click.option("--since", required=True, help="Changes on or after this moment (YYYY-MM-DD or ISO 8601).")
def appointments_export(since: str) -> None:
    """Print the appointments booked, changed or cancelled since a moment, one FHIR Appointment a line."""
    try:
        moment = datetime.fromisoformat(since)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD or an ISO 8601 time", param_hint="--since") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    with open_engine(load_settings()) as engine, db.transaction(engine) as session:
        for resource in fhir_out.changed_since(session, moment):
            click.echo(json.dumps(resource, separators=(",", ":")))
