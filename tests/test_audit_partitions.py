"""The audit log at scale: monthly partitions on PostgreSQL, made ahead by the worker, dropped whole by
`portal audit retain`, which never keeps less than six years. On SQLite the log stays one table, and the
same tests check what happens there instead (rows deleted, the same refusals)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text
from sqlmodel import func, select

from portal import db, worker
from portal.models import AuditEvent
from portal.models.base import utcnow
from portal.services import audit
from portal.services.audit import partitions
from tests.audit_helpers import all_events, run_cli, sequence, write_events


def postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def partition_exists(engine: Engine, name: str) -> bool:
    return name in db.table_names(engine)


def events_at(engine: Engine, moment: datetime, count: int, *, link: bool = True) -> None:
    """Events written with their own time, as if the portal had run then."""
    for number in range(count):
        with db.transaction(engine) as session:
            audit.append(session, AuditEvent(action="view", resource_id=f"at-{number}", occurred_at=moment))
    if link:
        sequence(engine)


def months_ago(months: int) -> datetime:
    """The middle of the month `months` months before this one."""
    return partitions.add_months(partitions.month_start(utcnow()), -months) + timedelta(days=14)


def test_an_event_lands_in_the_partition_of_its_month(engine) -> None:
    write_events(engine, 1)
    this_month = partitions.partition_name(partitions.month_start(utcnow()))

    if postgres(engine):
        with engine.connect() as conn:
            where = conn.execute(text("SELECT tableoid::regclass::text FROM audit_event")).scalars().all()
        assert where == [this_month]
    else:  # SQLite: one table, no partitions to make
        assert len(all_events(engine)) == 1
        assert partitions.ensure_partitions(engine) == []
        assert not partition_exists(engine, this_month)


def test_the_worker_round_makes_next_months_partition(app, engine) -> None:
    next_month = partitions.partition_name(partitions.add_months(partitions.month_start(utcnow()), 1))
    if postgres(engine):
        with engine.begin() as conn:
            conn.execute(text(f"DROP TABLE IF EXISTS {next_month}"))

    worker.run_rounds(engine, app.state.settings, once=True)

    assert partition_exists(engine, next_month) == postgres(engine)


def test_making_partitions_ahead_is_idempotent(engine) -> None:
    later = utcnow() + timedelta(days=3 * 366)
    first = partitions.ensure_partitions(engine, now=later, ahead=2)
    again = partitions.ensure_partitions(engine, now=later, ahead=2)

    expected = 3 if postgres(engine) else 0
    assert (len(first), again) == (expected, [])
    if postgres(engine):
        events_at(engine, later, 1)
        with engine.connect() as conn:
            where = conn.execute(text("SELECT tableoid::regclass::text FROM audit_event")).scalar()
        assert where == partitions.partition_name(partitions.month_start(later))
        with engine.begin() as conn:  # later tests start from the usual months
            for name in first:
                conn.execute(text(f"DROP TABLE {name}"))


def test_retain_drops_the_old_months_and_verify_still_passes(engine, settings) -> None:
    # Two old months with their own partitions, one old month without (its events are in the default
    # partition on PostgreSQL), then this month.
    old_months = [months_ago(100), months_ago(99)]
    partitions.ensure_partitions(engine, now=old_months[0], ahead=1)
    for moment in old_months:
        events_at(engine, moment, 2)
    events_at(engine, months_ago(80), 1)
    write_events(engine, 2)
    old_names = [partitions.partition_name(partitions.month_start(m)) for m in old_months]

    result = run_cli(settings, "audit", "retain", "--months", "72")

    assert result.exit_code == 0, result.output
    assert "removed 5 audit events" in result.stdout
    if postgres(engine):
        assert "2 monthly partitions dropped" in result.stdout
        assert not any(partition_exists(engine, name) for name in old_names)
    remaining = all_events(engine)
    assert [e.resource_id for e in remaining[:2]] == ["obs-0", "obs-1"]
    verified = run_cli(settings, "audit", "verify")
    assert verified.exit_code == 0, verified.output
    assert "3 events, seq 6..8" in verified.stdout  # the two kept and retain's own event


def test_a_month_with_an_event_waiting_to_be_linked_is_kept(engine) -> None:
    old = months_ago(100)
    partitions.ensure_partitions(engine, now=old, ahead=0)
    events_at(engine, old, 2)
    events_at(engine, old, 1, link=False)  # not in the chain yet: retention must leave it

    with db.transaction(engine) as session:
        result = audit.retain(session, months=72)

    assert (result.purged, result.dropped) == (2, ())
    if postgres(engine):
        assert partition_exists(engine, partitions.partition_name(partitions.month_start(old)))
    with db.transaction(engine) as session:
        left = session.exec(
            select(AuditEvent.seq).where(AuditEvent.occurred_at < utcnow() - timedelta(days=9))
        ).all()
    assert left == [None]
    checked = audit.verify(engine)
    assert checked.ok, checked.problem


@pytest.mark.parametrize("months", ["71", "12", "0", "-5"])
def test_retain_refuses_less_than_six_years_and_removes_nothing(engine, settings, months) -> None:
    events_at(engine, months_ago(100), 1)

    result = run_cli(settings, "audit", "retain", "--months", months)

    assert result.exit_code == 1
    assert f"refused: audit events must be kept at least 72 months (6 years); {months} is too short" in (
        result.output
    )
    assert len(all_events(engine)) == 1


def test_the_clinic_may_keep_longer_but_not_shorter(engine, settings) -> None:
    events_at(engine, months_ago(100), 1)

    longer = run_cli(settings, "audit", "retain", "--months", "96", PORTAL_AUDIT_RETENTION_MONTHS="120")
    default = run_cli(settings, "audit", "retain", PORTAL_AUDIT_RETENTION_MONTHS="120")
    shorter = run_cli(settings, "audit", "retain", PORTAL_AUDIT_RETENTION_MONTHS="60")

    assert "at least 120 months (10 years); 96 is too short" in longer.output
    assert "nothing to remove" in default.stdout
    assert shorter.exit_code == 1
    assert "PORTAL_AUDIT_RETENTION_MONTHS must be at least 72" in shorter.output
    assert len(all_events(engine)) == 1


def test_the_migration_goes_down_to_a_plain_table_and_back_keeping_the_chain(engine) -> None:
    write_events(engine, 3)
    config = db.alembic_config(engine)
    try:
        command.downgrade(config, "0014_scheduling")
        plain = table_shape(engine)
        assert audit.verify(engine).count == 3
    finally:
        command.upgrade(config, "heads")
    partitioned = table_shape(engine)

    assert plain == (False, False)
    assert partitioned == (postgres(engine), True)
    assert audit.verify(engine).count == 3
    write_events(engine, 1)  # the id sequence carries on
    with db.transaction(engine) as session:
        assert session.exec(select(func.max(AuditEvent.id))).one() == 4
    assert audit.verify(engine).ok


def table_shape(engine: Engine) -> tuple[bool, bool]:
    """(whether audit_event is partitioned, whether it has the index on the person a proxy acted for)."""
    leading = {index["column_names"][0] for index in inspect(engine).get_indexes("audit_event")}
    with engine.connect() as conn:
        return partitions.is_partitioned(conn), "on_behalf_of_person_id" in leading
