"""`portal refills export --status pending [--since DATE]` and `portal refills import FILE`: refill
requests to and from the EHR's interface engine as FHIR R4 Tasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import click

from portal import db
from portal.commands import load_settings, open_engine
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access
from portal.services.refills import exchange, rules


def _operator(route: str) -> access.Operator:
    settings = load_settings()
    rules_ = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    return access.Operator(settings.today(), rules_, utcnow(), Provenance(route=route))


@click.group(name="refills")
def refills_group() -> None:
    """Prescription refill requests for the EHR."""


@refills_group.command(name="export")
@click.option("--status", type=click.Choice(rules.STATUSES), default=rules.PENDING, show_default=True)
@click.option("--since", metavar="YYYY-MM-DD", default=None, help="Only requests made on or after this day.")
def export_command(status: str, since: str | None) -> None:
    """Print the requests with this status as FHIR R4 Tasks, one JSON per line (NDJSON)."""
    start = None
    if since:
        try:
            start = datetime.fromisoformat(since).replace(tzinfo=UTC)
        except ValueError:
            raise click.BadParameter("give the day as YYYY-MM-DD", param_hint="--since") from None
    settings = load_settings()
    operator = _operator("cli:refills_export")
    with open_engine(settings, upgrade=True) as engine, db.transaction(engine) as session:
        for task in exchange.export_tasks(session, operator, status=status, since=start):
            click.echo(json.dumps(task, ensure_ascii=False, sort_keys=True))


@refills_group.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(file: Path) -> None:
    """Apply Tasks the EHR sent back (one Task, a Bundle, or NDJSON): their status is what patients see.
    The whole file is refused when any Task in it is not valid."""
    settings = load_settings()
    operator = _operator("cli:refills_import")
    try:
        tasks = exchange.read_tasks(file.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{file.name}: {error}") from None
    changed = unknown = 0
    with open_engine(settings, upgrade=True) as engine:
        try:
            with db.transaction(engine) as session:
                for task in tasks:
                    applied = exchange.import_task(session, operator, task, clinic=settings.clinic_name)
                    unknown += applied is None
                    changed += bool(applied and applied.changed)
        except ValueError as error:
            raise click.ClickException(f"{file.name}: {str(error).splitlines()[0][:300]}") from None
    click.echo(f"{file.name}: {len(tasks)} tasks, {changed} changed, {unknown} not found")
