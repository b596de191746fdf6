"""people

Revision ID: 0001_people
Revises:
Create Date: 2026-11-21 05:35:32.967154
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import portal.models.base

revision = "0001_people"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "person",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("display_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("staff_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("locale", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_email"), ["email"], unique=True)
        batch_op.create_index(batch_op.f("ix_person_public_id"), ["public_id"], unique=True)

    op.create_table(
        "patient",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("given_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("family_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("sex", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=True),
        sa.Column("deceased", sa.Boolean(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=True),
        sa.Column("version_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("last_updated", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("resource_json", sa.Text(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_fhir_id"), ["fhir_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_patient_person_id"), ["person_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_patient_public_id"), ["public_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("patient", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_public_id"))
        batch_op.drop_index(batch_op.f("ix_patient_person_id"))
        batch_op.drop_index(batch_op.f("ix_patient_fhir_id"))

    op.drop_table("patient")
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_public_id"))
        batch_op.drop_index(batch_op.f("ix_person_email"))

    op.drop_table("person")
