"""audit sequencer: events are written sealed and waiting, and linked into the chain afterwards

Revision ID: 0010_audit_sequencer
Revises: 0008_printing
Create Date: 2026-11-22 09:00:00

`seq`, `prev_hash` and `hash` may now be NULL (an event waiting for the sequencer), each event carries a
seal (`mac`, unique), and the lists by patient are ordered by id. On PostgreSQL the guard now lets one
UPDATE through per event: the sequencer's, from a NULL `seq` to a link, changing nothing else.
Events written before this revision are all linked already and keep verifying (their seal is NULL: it
only guards the wait).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_audit_sequencer"
down_revision = "0009_confidentiality"
branch_labels = None
depends_on = None

LINK_COLUMNS = ("seq", "prev_hash", "hash")

# UPDATE is allowed only to link a waiting event: OLD.seq, prev_hash and hash NULL, NEW ones set, and
# every other column (compared as JSON, so a column added later is covered too) unchanged.
GUARD_WITH_SEQUENCER = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    purge_through bigint :=
        coalesce(nullif(current_setting('portal.audit_purge_through', true), ''), '0');
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= purge_through THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'UPDATE'
        AND OLD.seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
        AND NEW.seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
        AND (to_jsonb(NEW) - 'seq' - 'prev_hash' - 'hash') = (to_jsonb(OLD) - 'seq' - 'prev_hash' - 'hash')
    THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""

GUARD_BEFORE = """
CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    purge_through bigint :=
        coalesce(nullif(current_setting('portal.audit_purge_through', true), ''), '0');
BEGIN
    IF TG_OP = 'DELETE' AND OLD.seq <= purge_through THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("mac", sa.String(length=81), nullable=True))
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=True)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=True)
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=True)
        batch.create_index("ix_audit_event_mac", ["mac"], unique=True)
        batch.drop_index("ix_audit_event_patient_seq")
        batch.create_index("ix_audit_event_patient_id_id", ["patient_id", "id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_WITH_SEQUENCER)


def downgrade() -> None:
    # Events still waiting have no place in the old chain: link them (`portal audit sequence`) first.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_BEFORE)
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_index("ix_audit_event_patient_id_id")
        batch.create_index("ix_audit_event_patient_seq", ["patient_id", "seq"], unique=False)
        batch.drop_index("ix_audit_event_mac")
        batch.alter_column("hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch.alter_column("seq", existing_type=sa.BigInteger(), nullable=False)
        batch.drop_column("mac")
