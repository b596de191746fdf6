"""The audit log's commands: `portal audit verify|sequence|export|purge|retain`."""

from __future__ import annotations

import sys
from datetime import date
from typing import TextIO

import click
from sqlmodel import select

from portal import db
from portal.commands import load_settings, open_engine
from portal.models.people import Patient
from portal.provenance import Provenance
from portal.services import audit


def parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected a date as YYYY-MM-DD", param_hint=option) from None


@click.group(name="audit")
def audit_group() -> None:
    """The audit log: link and verify its chain, export it, purge it after the retention period."""


def parse_head(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise click.BadParameter("expected SEQ:HASH as `portal audit verify` printed it", param_hint="--head")
    return int(seq), digest


@audit_group.command(name="verify")
@click.option("--head", help="A head printed by an earlier verify (SEQ:HASH): the chain must still hold it.")
def audit_verify(head: str | None) -> None:
    """Link the events waiting for the sequencer, then check every link; exit 1 naming the first bad event."""
    expected_head = parse_head(head)
    with open_engine(load_settings()) as engine:
        audit.sequence_pending(engine, key=audit.engine_key(engine))
        result = audit.verify(engine, head=expected_head)
    if not result.ok:
        click.echo(f"audit chain BROKEN after {result.count} good events: {result.problem}", err=True)
        sys.exit(1)
    waiting = f"; {result.waiting} events wait to be sequenced" if result.waiting else ""
    if result.count == 0:
        click.echo(f"audit chain verified: no events{waiting}")
        return
    click.echo(
        f"audit chain verified: {result.count} events, seq {result.first_seq}..{result.last_seq}, "
        f"head {result.last_seq}:{result.head_hash}{waiting}"
    )


@audit_group.command(name="sequence")
def audit_sequence() -> None:
    """Link the committed events that wait into the chain (the worker does this every round)."""
    with open_engine(load_settings()) as engine:
        linked = audit.sequence_pending(engine, key=audit.engine_key(engine))
    click.echo(f"linked {linked} audit events")


@audit_group.command(name="export")
@click.option("--patient", "patient_fhir_id", help="Only this patient's events (the FHIR Patient id).")
@click.option("--since", help="Only events on or after this day (YYYY-MM-DD, UTC).")
@click.option("--until", help="Only events on or before this day (YYYY-MM-DD, UTC).")
@click.option("-o", "--output", type=click.File("w", encoding="utf-8", lazy=True), default="-")
def audit_export(patient_fhir_id: str | None, since: str | None, until: str | None, output: TextIO) -> None:
    """Write the audit log as CSV (to standard output unless -o FILE); the export is itself audited."""
    since_day, until_day = parse_day(since, "--since"), parse_day(until, "--until")
    with open_engine(load_settings()) as engine:
        # The export is recorded (and committed) before any row leaves: no record, no export.
        with db.transaction(engine) as session:
            patient_id = None
            if patient_fhir_id is not None:
                patient_id = session.exec(
                    select(Patient.id).where(Patient.fhir_id == patient_fhir_id)
                ).first()
                if patient_id is None:
                    raise click.ClickException("no patient has that FHIR id")
            audit.record(
                session,
                action="export",
                patient_id=patient_id,
                resource_type="audit_event",
                provenance=Provenance(route="cli:audit_export"),
            )
        count = audit.export_csv_in_chunks(
            engine, output, patient_id=patient_id, since=since_day, until=until_day
        )
    click.echo(f"exported {count} audit events", err=True)


@audit_group.command(name="purge")
def audit_purge() -> None:
    """Remove the events older than PORTAL_AUDIT_RETENTION_YEARS (default 6), keeping the rest verifiable."""
    settings = load_settings()
    cutoff = audit.retention_cutoff(settings.audit_retention_years)
    with open_engine(settings) as engine:
        audit.sequence_pending(engine, key=audit.engine_key(engine))  # only linked events are purged
        with db.transaction(engine) as session:
            result = audit.purge(session, before=cutoff)
    if result.purged == 0:
        click.echo(f"nothing to purge: no event older than {cutoff.date().isoformat()}")
    else:
        click.echo(
            f"purged {result.purged} audit events older than {cutoff.date().isoformat()} "
            f"(through seq {result.through_seq}); a checkpoint keeps the rest verifiable"
        )


# FHIR import and export ------------------------------------------------------------------------------


@audit_group.command(name="retain")
@click.option(
    "--months",
    type=int,
    help="Keep this many whole months before the current one (default and minimum: "
    "PORTAL_AUDIT_RETENTION_MONTHS, 72; never fewer than HIPAA's six years).",
)
def audit_retain(months: int | None) -> None:
    """Remove the events of the months older than --months; on PostgreSQL whole monthly partitions are
    dropped. A checkpoint keeps the rest verifiable."""
    settings = load_settings()
    kept = settings.audit_retention_months if months is None else months
    cutoff = audit.retention_start(kept)
    with open_engine(settings) as engine:
        audit.sequence_pending(engine, key=audit.engine_key(engine))  # only linked events are purged
        try:
            with db.transaction(engine) as session:
                result = audit.retain(session, months=kept, minimum=settings.audit_retention_months)
        except audit.RetentionTooShort as refusal:
            raise click.ClickException(f"refused: {refusal}") from None
    if result.purged == 0:
        click.echo(f"nothing to remove: no event before {cutoff.date().isoformat()}")
        return
    partitions = f"; {len(result.dropped)} monthly partitions dropped" if result.dropped else ""
    click.echo(
        f"removed {result.purged} audit events before {cutoff.date().isoformat()} "
        f"(through seq {result.through_seq}){partitions}; a checkpoint keeps the rest verifiable"
    )
