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
