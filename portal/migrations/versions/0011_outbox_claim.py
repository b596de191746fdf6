"""outbox claim: a worker claims a message before sending it, so two workers never send it twice

Revision ID: 0011_outbox_claim
Revises: 0009_confidentiality
Create Date: 2026-11-25 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "0011_outbox_claim"
down_revision = "0010_audit_sequencer"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox_mail") as batch:
        batch.add_column(sa.Column("claimed_until", portal.models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox_mail") as batch:
        batch.drop_column("claimed_until")
