"""Shared helpers for the audit tests: writing events, tampering with rows, running `portal audit`."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import Engine, text
from sqlmodel import select

from portal import db
from portal.cli import main
from portal.models import AuditEvent
from portal.services import audit


def write_events(engine: Engine, count: int, *, link: bool = True, **fields) -> list[AuditEvent]:
    """`count` view events, each in its own transaction, as the access service would write them, then
    linked by the sequencer as the worker would (unless `link` is False)."""
    ids = []
    for number in range(count):
        with db.transaction(engine) as session:
            values = {"action": "view", "resource_type": "Observation", "resource_id": f"obs-{number}"}
            ids.append(audit.record(session, **{**values, **fields}).id)
    if link:
        sequence(engine)
    with db.transaction(engine) as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.id.in_(ids)).order_by(AuditEvent.id)))


def sequence(engine: Engine) -> int:
    """Run the sequencer, as the worker does each round."""
    return audit.sequence_pending(engine, key=audit.engine_key(engine))


def all_events(engine: Engine) -> list[AuditEvent]:
    """Every event: the linked ones in chain order, then those waiting, in the order they were written."""
    with db.transaction(engine) as session:
        waiting_last = AuditEvent.seq.is_(None)
        return list(session.exec(select(AuditEvent).order_by(waiting_last, AuditEvent.seq, AuditEvent.id)))


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
