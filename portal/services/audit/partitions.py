"""The audit log's monthly partitions on PostgreSQL (migration 0019); SQLite keeps one table.

Each month of `occurred_at` (UTC) is its own partition, `audit_event_pYYYYMM`, and a default partition
takes any other time, so an insert never fails. The worker makes sure this month and the next exist each
round (`ensure_partitions`: a catalogue look-up when they do, which is every round but one a month). A month
whose events already landed in the default partition (the worker did not run for that long) is left
there: creating its partition would have to move them, and retention deletes them row by row instead.

Retention (retention.py) drops a whole month once every event in it belongs to the purged prefix of the
chain; the checkpoint it writes is where verification starts, as with any purge.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text
from sqlmodel import Session

from portal.models.base import utcnow

PARENT = "audit_event"
DEFAULT = "audit_event_default"
MONTH_NAME = re.compile(r"^audit_event_p(\d{4})(\d{2})$")
LOCK_WAIT = (
    "2s"  # creating a partition locks the table briefly: give up and retry next round rather than queue
)


def month_start(moment: datetime) -> datetime:
    """The first instant (UTC) of the month that holds `moment`."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def add_months(start: datetime, months: int) -> datetime:
    index = start.year * 12 + start.month - 1 + months
    return start.replace(year=index // 12, month=index % 12 + 1)


def partition_name(start: datetime) -> str:
    return f"{PARENT}_p{start:%Y%m}"


def is_partitioned(connection: Connection) -> bool:
    if connection.dialect.name != "postgresql":
        return False
    found = connection.execute(
        text("SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(:parent)"), {"parent": PARENT}
    ).first()
    return found is not None


def months(connection: Connection) -> list[tuple[str, datetime, datetime]]:
    """(name, start, end) of each monthly partition, oldest first."""
    names = connection.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(:parent)"
        ),
        {"parent": PARENT},
    ).scalars()
    found = []
    for name in names:
        match = MONTH_NAME.match(name)
        if match:
            start = datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC)
            found.append((name, start, add_months(start, 1)))
    return sorted(found, key=lambda month: month[1])


def create_month(connection: Connection, start: datetime) -> bool:
    """Create the partition of the month beginning at `start` unless it exists (or the default partition
    already holds events of that month); returns whether it was created."""
    name, end = partition_name(start), add_months(start, 1)
    if connection.execute(text("SELECT to_regclass(:name)"), {"name": name}).scalar() is not None:
        return False
    stranded = connection.execute(
        text(f"SELECT 1 FROM {DEFAULT} WHERE occurred_at >= :start AND occurred_at < :end LIMIT 1"),
        {"start": start, "end": end},
    ).first()
    if stranded is not None:
        return False
    connection.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_WAIT}'")
    # The name and bounds are made here from a datetime, never from input: safe to write into the statement.
    connection.exec_driver_sql(
        f"CREATE TABLE {name} PARTITION OF {PARENT} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )
    return True


def ensure_partitions(engine: Engine, *, now: datetime | None = None, ahead: int = 1) -> list[str]:
    """Make sure this month's partition and the next `ahead` months' exist; returns those created.

    Idempotent and cheap (a catalogue look-up per month); a no-op on SQLite. Each month is created in its
    own short transaction, so a lock that cannot be had in time only delays it to the next round.
    """
    if engine.dialect.name != "postgresql":
        return []
    first = month_start(now or utcnow())
    created: list[str] = []
    for offset in range(ahead + 1):
        start = add_months(first, offset)
        with engine.begin() as connection:
            if not is_partitioned(connection):
                return created
            if create_month(connection, start):
                created.append(partition_name(start))
    return created


def drop_months_before(session: Session, cutoff: datetime, *, through_seq: int) -> list[str]:
    """Drop each monthly partition that ends by `cutoff` and holds only linked events at or below
    `through_seq` (the purged prefix of the chain), in the caller's transaction; returns their names.

    A month that also holds an event outside the prefix (one that committed late, or still waits for the
    sequencer) is kept: the purge deletes its prefix rows one by one.
    """
    connection = session.connection()
    if not is_partitioned(connection):
        return []
    dropped = []
    for name, _start, end in months(connection):
        if end > cutoff:
            break
        outside = connection.execute(
            text(f"SELECT 1 FROM {name} WHERE seq IS NULL OR seq > :through LIMIT 1"),
            {"through": through_seq},
        ).first()
        if outside is None:
            connection.exec_driver_sql(f"DROP TABLE {name}")
            dropped.append(name)
    return dropped
