"""confidentiality: each resource's own reason, the links it spreads along, every item's flag recomputed

The flag used to come from meta.security alone; the pages also compared each item's first coding with a
short list. It now says everything: any coding on the clinic's list (portal/data/sensitive_codes.csv), any
security label, or a link to a confidential item. Recomputed here from the JSON every resource arrived as,
so no re-import is needed (a label that was only on a bundle is not stored, and cannot be recovered).

Revision ID: 0009_confidentiality
Revises: 0008_printing
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlmodel import Session

revision = "0009_confidentiality"
down_revision = "0008_printing"
branch_labels = None
depends_on = None

ITEM_TABLES = (
    "encounter",
    "observation",
    "diagnostic_report",
    "clinical_document",
    "immunization",
    "medication_request",
    "allergy",
    "condition",
    "procedure",
)


def upgrade() -> None:
    for table in ("fhir_resource", *ITEM_TABLES):
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column("confidential_reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
            )
    op.create_table(
        "fhir_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["fhir_resource.id"]),
        sa.ForeignKeyConstraint(["target_id"], ["fhir_resource.id"]),
        sa.ForeignKeyConstraint(["patient_id"], ["patient.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("fhir_link") as batch:
        batch.create_index("ix_fhir_link_source_id", ["source_id"], unique=False)
        batch.create_index("ix_fhir_link_target_id", ["target_id"], unique=False)
        batch.create_index("ix_fhir_link_patient_id", ["patient_id"], unique=False)
    recompute(op.get_bind())


def recompute(bind: sa.Connection) -> None:
    """Every stored item's flag from the stored JSON: the same code `portal records reflag` runs."""
    from portal.fhir.confidentiality import recompute_all

    with Session(bind=bind) as session:
        recompute_all(session)
        session.flush()


def downgrade() -> None:
    op.drop_table("fhir_link")
    for table in ("fhir_resource", *ITEM_TABLES):
        # A plain ALTER TABLE (SQLite 3.35+ has DROP COLUMN): a batch copy of fhir_resource would break the
        # foreign keys that point at it.
        op.drop_column(table, "confidential_reason")
