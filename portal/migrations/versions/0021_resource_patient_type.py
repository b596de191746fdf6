"""an index for one patient's resources of one type

The summary's EHR recommendations (and the FHIR download's look-ups by type) read one patient's resources
of one type; with an index on the patient alone, a large record is walked whole on every summary.

Revision ID: 0021_resource_patient_type
Revises: 0020_print_claim
Create Date: 2026-12-06 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0021_resource_patient_type"
down_revision = "0020_print_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_fhir_resource_patient_type", "fhir_resource", ["patient_id", "resource_type"])


def downgrade() -> None:
    op.drop_index("ix_fhir_resource_patient_type", table_name="fhir_resource")
