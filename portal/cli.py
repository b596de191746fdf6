"""The `portal` command."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal import db
from portal.config import ConfigError, Settings

if TYPE_CHECKING:
    from portal.fhir.importer import ImportSummary


def configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        stream=sys.stderr,
    )


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        raise click.ClickException(str(error)) from None


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
    settings = load_settings()
    db.upgrade(db.make_engine(settings.database_url))
    run_server(host, port, workers)


def run_server(host: str, port: int, workers: int) -> None:
    import uvicorn

    # uvicorn's access log prints paths and query strings; our RequestLog prints route names instead.
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        proxy_headers=True,
        server_header=False,
    )


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="Create the demo clinic and stop.")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Create a demo clinic on the embedded database, print how to sign in, and serve it."""
    from portal import demo as demo_clinic

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    db.upgrade(engine)
    for line in demo_clinic.create(settings, engine):
        click.echo(line)
    if not no_serve:
        click.echo(f"Serving on {settings.origin} (press Ctrl+C to stop)")
        run_server(host, port, 1)


@main.group(name="db")
def db_group() -> None:
    """Database schema."""


@db_group.command()
def upgrade() -> None:
    """Apply every migration."""
    settings = load_settings()
    db.upgrade(db.make_engine(settings.database_url))
    click.echo("database is up to date")


# FHIR import and export ------------------------------------------------------------------------------


@main.command(name="import-fhir")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_fhir(paths: tuple[Path, ...]) -> None:
    """Import FHIR R4 bundles (.json) and bulk exports (.ndjson) from files or folders."""
    from portal.fhir import importer

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    files = importer.collect_files(paths)
    summary = importer.ImportSummary()
    try:
        db.upgrade(engine)
        with click.progressbar(length=len(files), label="Importing", file=sys.stderr, show_pos=True) as bar:
            for result in importer.import_files(engine, files):
                summary.files.append(result)
                bar.update(1)
    finally:
        engine.dispose()
    click.echo(format_summary(summary))
    for failure in summary.failed:
        click.echo(f"refused: {failure.message}", err=True)
    if summary.failed:
        raise SystemExit(1)


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
    from portal.services import records

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        with db.transaction(engine) as session:
            bundle = records.export_record(session, patient)  # by the operator: no person, no role
    finally:
        engine.dispose()
    if bundle is None:
        raise click.ClickException("no patient with that FHIR id")
    click.echo(json.dumps(bundle, ensure_ascii=False, indent=1))
