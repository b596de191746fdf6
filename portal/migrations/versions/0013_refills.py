"""refills: prescription refill requests, their history, and each patient's last pharmacy

Revision ID: 0013_refills
Revises: 0011_outbox_claim
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "0013_refills"
down_revision = "0015_registration"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "refill_request",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patient.id"), nullable=False),
        sa.Column("medication_id", sa.Integer(), sa.ForeignKey("medication_request.id"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=True),
        sa.Column("pharmacy_other", sa.Text(), nullable=True),
        sa.Column("days_left", sa.Integer(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("requested_by_person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("decided_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("decided_by_person_id", sa.Integer(), sa.ForeignKey("person.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("refills", sa.Integer(), nullable=True),
        sa.Column("sent_to_pharmacy", sa.Boolean(), nullable=False),
        sa.Column("ehr_status", sa.String(length=20), nullable=True),
        sa.Column("task_resource_id", sa.Integer(), sa.ForeignKey("fhir_resource.id"), nullable=True),
        sa.Column("draft_resource_id", sa.Integer(), sa.ForeignKey("fhir_resource.id"), nullable=True),
    )
    op.create_index("ix_refill_request_public_id", "refill_request", ["public_id"], unique=True)
    op.create_index("ix_refill_request_patient_id", "refill_request", ["patient_id"])
    op.create_index("ix_refill_request_medication_id", "refill_request", ["medication_id"])
    op.create_index("ix_refill_request_status", "refill_request", ["status"])
    op.create_index("ix_refill_request_created_at", "refill_request", ["created_at"])
    op.create_index(
        "uq_refill_request_pending_medication",
        "refill_request",
        ["medication_id"],
        unique=True,
        sqlite_where=sa.text("status = 'pending'"),
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_table(
        "refill_event",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("request_id", sa.Integer(), sa.ForeignKey("refill_request.id"), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("sent_to_pharmacy", sa.Boolean(), nullable=False),
        sa.Column("at", portal.models.base.UTCDateTime(), nullable=False),
    )
    op.create_index("ix_refill_event_request_id", "refill_event", ["request_id"])
    op.create_table(
        "refill_pharmacy_choice",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patient.id"), nullable=False, unique=True),
        sa.Column("pharmacy_id", sa.String(length=64), nullable=True),
        sa.Column("pharmacy_other", sa.Text(), nullable=True),
        sa.Column("updated_at", portal.models.base.UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("refill_pharmacy_choice")
    op.drop_table("refill_event")
    op.drop_table("refill_request")
