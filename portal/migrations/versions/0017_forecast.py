"""what is due: each person's reminder state (on or off, last look, last mail, what was announced)

Revision ID: 0017_forecast
Revises: 0011_outbox_claim
Create Date: 2026-12-06 08:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "0017_forecast"
down_revision = "0013_refills"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "due_reminder",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=True),
        sa.Column("last_sent_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("announced", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("due_reminder")
