"""The `portal` command."""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from sqlmodel import select

from portal import db
from portal.audit_commands import audit_group, parse_day
from portal.commands import load_settings, open_engine
from portal.config import Settings
from portal.forecast.cli import forecast_command
from portal.identity_commands import activation_code, staff
from portal.models.people import Patient
from portal.provenance import Provenance
from portal.services.billing.cli import billing_group
from portal.services.refills.cli import refills_group
from portal.services.registration.cli import registration_group
from portal.services.scheduling.cli import appointments_group

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from portal.fhir.importer import ImportSummary

log = logging.getLogger("portal.cli")


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


@click.group()
def main() -> None:
    """The clinic's patient portal."""
    configure_logging()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Run the web app (creating or upgrading the schema first)."""
    with open_engine(load_settings(), upgrade=True):
        pass
    run_server(host, port, workers)


def run_server(host: str, port: int, workers: int, app: Starlette | None = None) -> None:
    from portal import serving

    try:
        if app is None:
            serving.run(host, port, workers)
        else:  # an app built here (the demo's) runs in this process
            serving.serve_one(host, port, serving.listening_socket(host, port, reuse_port=False), app)
    except OSError as error:
        raise click.ClickException(f"cannot listen on {host}:{port}: {error.strerror}") from None


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Create the demo clinic and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create a demo clinic on the embedded database, print how to sign in, and serve it with the worker
    running in the same process."""
    from portal import demo as demo_clinic
    from portal.app import create_app

    settings = load_settings().with_overrides(demo=True)
    settings.check()
    with open_engine(settings, upgrade=True) as engine:
        for line in demo_clinic.create(settings, engine):
            click.echo(line)
    if not no_serve:
        from portal import worker

        threading.Thread(
            target=worker.keep_worker_running, args=(settings,), name="worker", daemon=True
        ).start()
        click.echo("The worker runs in this process: mail goes to the outbox, print jobs are run")
        click.echo(f"Serving on {settings.origin} (press Ctrl+C to stop)")
        run_server(host, port, 1, app=create_app(settings))


@main.group(name="db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
def upgrade() -> None:
    """Apply every migration."""
    with open_engine(load_settings(), upgrade=True):
        click.echo("database is up to date")


# -- portal audit: verify, export, purge ---------------------------------------------------------------


@main.command(name="import-fhir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Files imported side by side (default: one per core, at most 4; 1: one after another).",
)
def import_fhir(paths: tuple[Path, ...], jobs: int | None) -> None:
    """Import FHIR R4 bundles (.json) and bulk exports (.ndjson) from files or folders."""
    from portal.fhir import importer, parallel, reading

    files = reading.collect_files(paths)
    summary = importer.ImportSummary()
    with (
        open_engine(load_settings(), upgrade=True) as engine,
        click.progressbar(length=len(files), label="Importing", file=sys.stderr, show_pos=True) as bar,
    ):
        for result in parallel.import_files(engine, files, jobs=jobs):
            summary.files.append(result)
            bar.update(1)
    click.echo(format_summary(summary))
    for failure in summary.failed:
        click.echo(f"refused: {failure.message}", err=True)
    if summary.failed:
        raise SystemExit(1)


@main.group(name="records")
def records_group() -> None:
    """Stored records."""


@records_group.command(name="reflag")
def records_reflag() -> None:
    """Work out every item's confidential flag again from the stored FHIR JSON and the sensitive-code list
    (after the clinic changes portal/data/sensitive_codes.csv)."""
    from portal.fhir import confidentiality

    with open_engine(load_settings(), upgrade=True) as engine, db.transaction(engine) as session:
        changed = confidentiality.recompute_all(session)
    click.echo(f"{changed} record items changed their confidential flag")


def format_summary(summary: ImportSummary) -> str:
    """A table of per-type counts for an import: in the files, new, updated, unchanged."""
    resources, created = summary.total("resources"), summary.total("created")
    updated, unchanged = summary.total("updated"), summary.total("unchanged")
    header = ("type", "in files", "new", "updated", "unchanged")
    rows = [
        (name, resources[name], created[name], updated[name], unchanged[name]) for name in sorted(resources)
    ]
    rows.append(
        (
            "total",
            sum(resources.values()),
            sum(created.values()),
            sum(updated.values()),
            sum(unchanged.values()),
        )
    )
    width = max(len(header[0]), *(len(row[0]) for row in rows))
    lines = [f"{header[0]:<{width}}  " + "  ".join(f"{h:>9}" for h in header[1:])]
    lines += [f"{row[0]:<{width}}  " + "  ".join(f"{n:>9}" for n in row[1:]) for row in rows]
    imported = len(summary.files) - len(summary.failed)
    lines.append(f"files: {imported} imported, {len(summary.failed)} refused")
    unknown = summary.total("unknown")
    if unknown:
        listed = ", ".join(f"{name} {count}" for name, count in sorted(unknown.items()))
        lines.append(f"unknown types, kept as received (not shown in the portal): {listed}")
    skipped = summary.total("skipped")
    if skipped:
        listed = ", ".join(f"{name} {count}" for name, count in sorted(skipped.items()))
        lines.append(f"unknown types, not FHIR R4 resources (skipped): {listed}")
    return "\n".join(lines)


@main.command(name="export-fhir")
@click.argument("patient")
def export_fhir(patient: str) -> None:
    """Print one patient's record (by FHIR id) as a FHIR R4 Bundle of type collection."""
    from portal.models.base import utcnow
    from portal.services import access, records

    settings = load_settings()
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:export_fhir"))
    with open_engine(settings, upgrade=True) as engine, db.transaction(engine) as session:
        bundle = records.operator_export(session, operator, patient)  # nothing hidden, audited
    if bundle is None:
        raise click.ClickException("no patient with that FHIR id")
    click.echo(json.dumps(bundle, ensure_ascii=False, indent=1))


# ------------------------------------------------------------------------------ identity and mail


@main.command(name="worker")
@click.option("--once", is_flag=True, help="Send what is waiting, then stop.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def worker_command(once: bool, interval: float) -> None:
    """Send queued mail (over SMTP_URL, or into the data folder's outbox/ without it) and run print jobs."""
    from portal import worker

    worker.run_worker(load_settings(), once=once, interval=interval)


# ------------------------------------------------------------------------------------- proxy access


@main.group()
def proxy() -> None:
    """Proxy access: who may act for which patient."""


@proxy.command(name="add")
@click.argument("email")
@click.argument("patient")
@click.option("--relationship", required=True, type=click.Choice(["parent", "guardian", "caregiver"]))
@click.option("--level", default="full", show_default=True, type=click.Choice(["full", "limited"]))
@click.option("--name", default=None, help="The proxy's name, if they have no account yet.")
@click.option("--starts", default=None, help="First day of access (YYYY-MM-DD; default: today).")
@click.option("--ends", default=None, help="Access ends at the start of this day (YYYY-MM-DD).")
@click.option(
    "--guardian-beyond-18", is_flag=True, help="A guardian grant that continues past the age of 18."
)
def proxy_add(
    email: str,
    patient: str,
    relationship: str,
    level: str,
    name: str | None,
    starts: str | None,
    ends: str | None,
    guardian_beyond_18: bool,
) -> None:
    """Let the account with EMAIL act for PATIENT (the patient's FHIR id), making the account if needed."""
    from portal.models.base import utcnow
    from portal.services import access, families
    from portal.views.families import say

    settings = load_settings()
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:proxy_add"))
    starts_on = parse_day(starts, "--starts") or operator.today
    ends_on = parse_day(ends, "--ends")
    with open_engine(settings) as engine, db.transaction(engine) as session:
        found = session.exec(select(Patient).where(Patient.fhir_id == patient)).first()
        if found is None:
            raise click.ClickException("no patient has that FHIR id")
        acted = access.act_as_operator(
            session,
            operator,
            found,
            families.GRANT,
            families.grant_by_email,
            settings,
            email=email,
            name=name or "",
            relationship=relationship,
            level=level,
            starts_on=starts_on,
            ends_on=ends_on,
            beyond_majority=guardian_beyond_18,
            today=operator.today,
            rules=operator.rules,
        )
    if acted is None or acted.data is None:
        raise click.ClickException(say(acted.refused) if acted and acted.refused else "no access was granted")
    granted = acted.data
    click.echo(f"Proxy access granted; to end it: portal proxy end -- {granted.grant.public_id}")
    if granted.enrolment_link:
        click.echo("A new account was made. Enrolment link (works once, also mailed to them):")
        click.echo(granted.enrolment_link)


@proxy.command(name="end")
@click.argument("grant")
def proxy_end(grant: str) -> None:
    """End the proxy grant GRANT now (its id as `portal proxy add` printed it; put `--` before an id that
    starts with a dash)."""
    from portal.models.access import ProxyGrant
    from portal.models.base import utcnow
    from portal.services import access, families
    from portal.views.families import say

    settings = load_settings()
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = access.Operator(settings.today(), rules, utcnow(), Provenance(route="cli:proxy_end"))
    with open_engine(settings) as engine, db.transaction(engine) as session:
        found = session.exec(select(ProxyGrant).where(ProxyGrant.public_id == grant)).first()
        patient = session.get(Patient, found.patient_id) if found else None
        if found is None or patient is None:
            raise click.ClickException("no proxy grant has that id")
        acted = access.act_as_operator(
            session,
            operator,
            patient,
            families.end_look(grant),
            families.clinic_end_grant,
            grant,
            today=operator.today,
            rules=operator.rules,
        )
    if acted is None or acted.refused is not None:
        raise click.ClickException(
            say(acted.refused) if acted and acted.refused else "no proxy grant has that id"
        )
    click.echo("Proxy access ended.")


# -------------------------------------------------------------------------------------------- printing


@main.group(name="print")
def print_group() -> None:
    """Print visit summaries as PDF (audited; a patient without an account gets an activation code)."""


def _write_summaries(settings: Settings, summaries: list[Any], output: Path) -> None:
    from portal.services import printing
    from portal.templating import make_templates

    pdf = printing.render_pdf(make_templates().env, settings, summaries)
    output.write_bytes(pdf)
    click.echo(f"wrote {len(summaries)} visit summaries to {output}", err=True)


@print_group.command(name="visit-summary")
@click.argument("encounter")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def print_visit_summary(encounter: str, output: Path) -> None:
    """Print the summary of ENCOUNTER (the Encounter's FHIR id) into a PDF file."""
    from portal.models.base import utcnow
    from portal.services import printing
    from portal.services.access import AgeRules, Operator

    settings = load_settings()
    rules = AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = Operator(settings.today(), rules, utcnow(), Provenance(route="cli:print_visit_summary"))
    with open_engine(settings) as engine, db.transaction(engine) as session:
        summary = printing.print_encounter(session, operator, settings, encounter)
    if summary is None:
        raise click.ClickException("no visit has that FHIR id")
    _write_summaries(settings, [summary], output)


@print_group.command(name="day")
@click.option("--date", "day", required=True, help="The clinic's day, YYYY-MM-DD.")
@click.option(
    "--provider", default=None, help="Only this practitioner's visits (the Practitioner's FHIR id)."
)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path))
def print_day(day: str, provider: str | None, output: Path) -> None:
    """Print every visit summary of a day (or one provider's) into one PDF, one patient per page."""
    from portal.models.base import utcnow
    from portal.services import printing
    from portal.services.access import AgeRules, Operator

    settings = load_settings()
    parsed = parse_day(day, "--date")
    assert parsed is not None
    rules = AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    operator = Operator(settings.today(), rules, utcnow(), Provenance(route="cli:print_day"))
    with open_engine(settings) as engine, db.transaction(engine) as session:
        summaries = printing.print_day(session, operator, settings, parsed, provider)
    if not summaries:
        raise click.ClickException("no visits to print for that day" + (" and provider" if provider else ""))
    _write_summaries(settings, summaries, output)


# ------------------------------------------------------------------------------ backup and restore


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def backup(file: Path) -> None:
    """Copy the whole database into FILE while the portal runs (SQLite's online backup; pg_dump's custom
    format on PostgreSQL). FILE holds every record: keep it like the database. SECRET_KEY is not in it."""
    from portal.operations import backup as operations

    try:
        outcome = operations.backup(load_settings().database_url, file)
    except operations.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"backed up the database to {outcome.path} ({outcome.size} bytes)")


@main.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace a database that already holds data.")
def restore(file: Path, force: bool) -> None:
    """Replace the database with the backup in FILE (stop the servers and workers first). Refuses a
    database that holds any row unless --force."""
    from portal.operations import backup as operations

    try:
        operations.restore(load_settings().database_url, file, force=force)
    except operations.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored the database from {file}; run `portal db upgrade` if this release is newer")


main.add_command(audit_group)
main.add_command(appointments_group)
main.add_command(forecast_command)
main.add_command(activation_code)
main.add_command(staff)
main.add_command(registration_group)
main.add_command(refills_group)
main.add_command(billing_group)
