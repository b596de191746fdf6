"""access

Revision ID: 0005_access
Revises: 0002_audit
Create Date: 2026-11-21 05:45:24.382868
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import portal.models.base

revision = "0005_access"
down_revision = "0004_records"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proxy_grant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("proxy_person_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("relationship", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("level", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("beyond_majority", sa.Boolean(), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        sa.Column("granted_by_person_id", sa.Integer(), nullable=True),
        sa.Column("granted_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_by_person_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["granted_by_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["proxy_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["revoked_by_person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("proxy_grant", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_proxy_grant_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proxy_grant_proxy_person_id"), ["proxy_person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_proxy_grant_public_id"), ["public_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("proxy_grant", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_proxy_grant_public_id"))
        batch_op.drop_index(batch_op.f("ix_proxy_grant_proxy_person_id"))
        batch_op.drop_index(batch_op.f("ix_proxy_grant_patient_id"))

    op.drop_table("proxy_grant")
