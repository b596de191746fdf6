"""The `portal` command."""

from __future__ import annotations

import logging
import sys

import click

from portal import db
from portal.config import ConfigError, Settings


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


# ------------------------------------------------------------------------------ identity and mail


@main.command()
@click.option("--once", is_flag=True, help="Send what is waiting, then stop.")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between rounds.")
def worker(once: bool, interval: float) -> None:
    """Send queued mail (over SMTP_URL, or into the data folder's outbox/ without it)."""
    from portal.services import mail

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        db.upgrade(engine)
        mail.run_worker(engine, settings, once=once, interval=interval)
    finally:
        engine.dispose()


@main.command(name="activation-code")
@click.argument("patient")
def activation_code(patient: str) -> None:
    """Issue a fresh one-time activation code for PATIENT (the patient's FHIR id)."""
    from portal.services import identity

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        with db.transaction(engine) as session:
            found = identity.find_patient(session, patient)
            if found is None:
                raise click.ClickException("no patient has that id")
            code = identity.issue_activation_code(session, patient=found)
    finally:
        engine.dispose()
    days = identity.ACTIVATION_DAYS
    click.echo(f"Activation code (works once, with the patient's date of birth, for {days} days):")
    click.echo(code)


@main.group()
def staff() -> None:
    """Staff accounts."""


@staff.command(name="add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(["front_desk", "clinician", "billing", "admin"]))
@click.option("--name", default=None, help="The name shown in the portal (default: from the email).")
def staff_add(email: str, role: str, name: str | None) -> None:
    """Create a staff account and print its single-use enrolment link (valid 72 hours)."""
    from portal.services import identity

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        with db.transaction(engine) as session:
            link = identity.add_staff(session, settings, email=email, role=role, display_name=name)
    except identity.IdentityError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"Enrolment link (works once, for {identity.ENROLMENT_HOURS} hours):")
    click.echo(link)


@staff.command(name="reset")
@click.argument("email")
def staff_reset(email: str) -> None:
    """Remove a staff member's passkeys and sessions and print a new enrolment link (valid 72 hours)."""
    from portal.services import identity

    settings = load_settings()
    engine = db.make_engine(settings.database_url)
    try:
        with db.transaction(engine) as session:
            link = identity.reset_staff(session, settings, email=email)
    except identity.IdentityError as error:
        raise click.ClickException(str(error)) from None
    finally:
        engine.dispose()
    click.echo(f"Enrolment link (works once, for {identity.ENROLMENT_HOURS} hours):")
    click.echo(link)
