"""audit partitions: on PostgreSQL audit_event becomes a table partitioned by month of `occurred_at`

Revision ID: 0019_audit_partitions
Revises: 0014_scheduling
Create Date: 2026-12-08 09:00:00

The log grows by one row per page view. Partitioned by month, retention drops whole old months instead of
deleting millions of rows, and each month's indexes stay small. A partitioned table's primary key and
unique indexes must include the partition key, so on PostgreSQL they become (id, occurred_at),
(seq, occurred_at) and (mac, occurred_at); this keeps what they guard: ids come from one sequence, a
copied row (same seal, same time) still collides, and a row copied with another time fails its seal (the
seal covers `occurred_at`); a doubled `seq` breaks the chain for `portal audit verify`. No foreign key
refers to audit_event. The rows are copied into monthly partitions (each month that has events and the
next three) and a default partition takes any other time, so an insert never fails; the worker adds each
coming month ahead of time (portal.services.audit.partitions). The append-only trigger moves to the new
table. Both databases gain an index on `on_behalf_of_person_id`, for the admin's search by person (as
actor or as proxy). SQLite keeps one table.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0019_audit_partitions"
down_revision = "0014_scheduling"
branch_labels = None
depends_on = None

ON_BEHALF_INDEX = ("ix_audit_event_on_behalf_of_person_id", ["on_behalf_of_person_id"])
# (name, unique, columns on the partitioned table, columns on the plain table)
INDEXES = [
    ("ix_audit_event_action", False, ["action"], ["action"]),
    ("ix_audit_event_actor_person_id", False, ["actor_person_id"], ["actor_person_id"]),
    ("ix_audit_event_occurred_at", False, ["occurred_at"], ["occurred_at"]),
    ("ix_audit_event_patient_id_id", False, ["patient_id", "id"], ["patient_id", "id"]),
    ("ix_audit_event_seq", True, ["seq", "occurred_at"], ["seq"]),
    ("ix_audit_event_mac", True, ["mac", "occurred_at"], ["mac"]),
]
MONTHS_AHEAD = 3

TRIGGER = """
CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()
"""


def month_start(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)


def create_month(start: datetime) -> None:
    end = next_month(start)
    op.execute(
        f"CREATE TABLE audit_event_p{start:%Y%m} PARTITION OF audit_event "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def set_aside(table: str, suffix: str) -> str:
    """Rename the table and its indexes, so that the new table can take their names; returns the new name."""
    bind = op.get_bind()
    aside = f"{table}{suffix}"
    names = bind.execute(sa.text("SELECT indexname FROM pg_indexes WHERE tablename = :t"), {"t": table})
    for (name,) in list(names):
        op.execute(f'ALTER INDEX "{name}" RENAME TO "{name}{suffix}"')
    op.execute(f"ALTER TABLE {table} RENAME TO {aside}")
    return aside


def rebuild(*, partitioned: bool) -> None:
    """Make audit_event anew (partitioned or plain) with the same columns, and copy every row over."""
    bind = op.get_bind()
    sequence = bind.execute(sa.text("SELECT pg_get_serial_sequence('audit_event', 'id')")).scalar_one()
    old = set_aside("audit_event", "_before_0019" if partitioned else "_partitioned")
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY NONE")  # it outlives the old table
    partition_by = " PARTITION BY RANGE (occurred_at)" if partitioned else ""
    op.execute(
        f"CREATE TABLE audit_event (LIKE {old} INCLUDING DEFAULTS INCLUDING CONSTRAINTS){partition_by}"
    )
    key = "id, occurred_at" if partitioned else "id"
    op.execute(f"ALTER TABLE audit_event ADD CONSTRAINT audit_event_pkey PRIMARY KEY ({key})")
    for name, unique, partitioned_columns, plain_columns in INDEXES:
        columns = partitioned_columns if partitioned else plain_columns
        op.create_index(name, "audit_event", columns, unique=unique)
    op.create_index(ON_BEHALF_INDEX[0], "audit_event", ON_BEHALF_INDEX[1])
    op.execute(TRIGGER)
    if partitioned:
        low, high = bind.execute(sa.text(f"SELECT min(occurred_at), max(occurred_at) FROM {old}")).one()
        now = datetime.now(UTC)
        month = month_start(low or now)
        last = month_start(max(high or now, now))
        for _ in range(MONTHS_AHEAD):
            last = next_month(last)
        while month <= last:
            create_month(month)
            month = next_month(month)
        op.execute("CREATE TABLE audit_event_default PARTITION OF audit_event DEFAULT")
    op.execute(f"INSERT INTO audit_event SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old}")  # on the way down: with its partitions
    op.execute(f"ALTER SEQUENCE {sequence} OWNED BY audit_event.id")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.create_index(ON_BEHALF_INDEX[0], "audit_event", ON_BEHALF_INDEX[1])
        return
    rebuild(partitioned=True)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(ON_BEHALF_INDEX[0], table_name="audit_event")
        return
    rebuild(partitioned=False)
    op.drop_index(ON_BEHALF_INDEX[0], table_name="audit_event")
