"""print claim: a print job records when its worker claimed it, so a job whose worker died runs again

Revision ID: 0020_print_claim
Revises: 0019_audit_partitions
Create Date: 2027-02-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "0020_print_claim"
down_revision = "0019_audit_partitions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("print_job") as batch:
        batch.add_column(sa.Column("claimed_at", portal.models.base.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("print_job") as batch:
        batch.drop_column("claimed_at")
