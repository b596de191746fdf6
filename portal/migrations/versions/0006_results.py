"""results

Revision ID: 0006_results
Revises: 0005_access
Create Date: 2026-11-21 05:51:35.992690
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import portal.models.base

revision = "0006_results"
down_revision = "0005_access"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "result_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("hold_hours", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("set_by_person_id", sa.Integer(), nullable=True),
        sa.Column("set_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["set_by_person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("category"),
    )


def downgrade() -> None:
    op.drop_table("result_hold")
