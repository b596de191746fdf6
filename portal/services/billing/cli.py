"""`portal billing ...`: import a CSV statement file, take in the imported claims, export payments."""

from __future__ import annotations

from pathlib import Path

import click

from portal import db
from portal.commands import load_settings, open_engine
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access, audit


def _operator(command: str) -> access.Operator:
    settings = load_settings()
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    return access.Operator(settings.today(), rules, utcnow(), Provenance(route=f"cli:billing_{command}"))


@click.group(name="billing")
def billing_group() -> None:
    """Bills: statement files, claims from the EHR, payments for the practice-management system."""


@billing_group.command(name="import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Import a CSV statement file (format: see portal/services/billing/statement_file.py); a bad file is
    refused whole, naming each bad line."""
    from portal.services.billing.imports import import_statement_file
    from portal.services.billing.statement_file import StatementFileRefused

    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path.name}: not UTF-8 text; nothing imported") from None
    operator = _operator("import")
    with open_engine(load_settings(), upgrade=True) as engine:
        try:
            with db.transaction(engine) as session:
                count = import_statement_file(session, operator, text)
        except StatementFileRefused as refused:
            lines = "\n".join(f"  {problem}" for problem in refused.problems[:50])
            raise click.ClickException(f"{path.name} refused, nothing imported:\n{lines}") from None
    click.echo(f"{path.name}: {count} visits imported")


@billing_group.command(name="sync")
def sync_command() -> None:
    """Take the imported claims (ExplanationOfBenefit) into each patient's ledger (the worker does this
    too)."""
    from portal.services.billing.imports import sync_claims

    operator = _operator("sync")
    with open_engine(load_settings(), upgrade=True) as engine, db.transaction(engine) as session:
        count = sync_claims(session, operator)
    click.echo(f"{count} patients' bills brought up to date")


@billing_group.command(name="export")
@click.option("--since", required=True, help="A date (YYYY-MM-DD) or an ISO date and time, UTC.")
def export_command(since: str) -> None:
    """Print PaymentNotice (each payment paid since then) and PaymentReconciliation (per processor and
    day) as NDJSON, one FHIR R4 resource a line, for the practice-management system."""
    import json
    from datetime import UTC, datetime

    from portal.services.billing.reconcile import export_since

    try:
        start = datetime.fromisoformat(since)
    except ValueError:
        raise click.BadParameter("give a date like 2026-05-01", param_hint="--since") from None
    start = start if start.tzinfo else start.replace(tzinfo=UTC)
    with open_engine(load_settings(), upgrade=True) as engine, db.transaction(engine) as session:
        audit.record(
            session,
            action="export",
            actor_role=access.OPERATOR_ROLE,
            resource_type="PaymentReconciliation",
            resource_id=start.isoformat()[:64],
            provenance=Provenance(route="cli:billing_export"),
        )
        for resource in export_since(session, start):
            click.echo(json.dumps(resource, sort_keys=True, separators=(",", ":")))
