"""Shared helpers for the audit tests: writing events, tampering with rows, running `portal audit`."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlmodel import select

from portal import db
from portal.cli import main
from portal.models import AuditEvent
from portal.services import audit


def write_events(engine: Engine, count: int, **fields) -> list[AuditEvent]:
    """`count` view events, each in its own transaction, as the access service would write them."""
    events = []
    for number in range(count):
        with db.transaction(engine) as session:
            values = {"action": "view", "resource_type": "Observation", "resource_id": f"obs-{number}"}
            events.append(audit.record(session, **{**values, **fields}))
    return events


def all_events(engine: Engine) -> list[AuditEvent]:
    with db.transaction(engine) as session:
        return list(session.exec(select(AuditEvent).order_by(AuditEvent.seq)))


def tamper(engine: Engine, statement: str, **params) -> None:
    """Run raw SQL as someone with database access would: on PostgreSQL with the owner's guards lifted."""
    postgres = engine.dialect.name == "postgresql"
    with engine.begin() as conn:
        if postgres:
            conn.execute(text("ALTER TABLE audit_event DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoint DISABLE TRIGGER USER"))
        conn.execute(text(statement), params)
        if postgres:
            conn.execute(text("ALTER TABLE audit_event ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoint ENABLE TRIGGER USER"))


def run_cli(settings, *args: str, secret: str | None = None, **environ: str):
    """`portal ARGS` with the test's database and secret, as an operator would run it."""
    env = {
        "DATABASE_URL": settings.database_url,
        "SECRET_KEY": secret or str(settings.secret_key),
        "PORTAL_DATA_DIR": str(settings.data_dir),
        **environ,
    }
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
