"""registration: online check-in before a visit (details, insurance and card photos, review, questionnaires,
consents), the changes staff review, and what was written for the EHR

Revision ID: 0015_registration
Revises: 0011_outbox_claim
Create Date: 2026-11-28 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import portal.models.base

revision = "0015_registration"
down_revision = "0011_outbox_claim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "checkin_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("mailed_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "visit_key"),
    )
    op.create_index(op.f("ix_checkin_offer_patient_id"), "checkin_offer", ["patient_id"], unique=False)
    op.create_table(
        "checkin",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("encounter_resource_id", sa.Integer(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("visit_start", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("steps_done", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("details_json", sa.Text(), nullable=False),
        sa.Column("insurance_json", sa.Text(), nullable=False),
        sa.Column("review_json", sa.Text(), nullable=False),
        sa.Column("started_by_person_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("reviewed_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("updated_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["encounter_resource_id"],
            ["fhir_resource.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["started_by_person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("patient_id", "visit_key"),
    )
    op.create_index(op.f("ix_checkin_appointment_id"), "checkin", ["appointment_id"], unique=False)
    op.create_index(op.f("ix_checkin_patient_id"), "checkin", ["patient_id"], unique=False)
    op.create_index(op.f("ix_checkin_public_id"), "checkin", ["public_id"], unique=True)
    op.create_table(
        "checkin_answer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("questionnaire", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("response_json", sa.Text(), nullable=False),
        sa.Column("answered_by_person_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["answered_by_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkin_id", "questionnaire"),
    )
    op.create_index(op.f("ix_checkin_answer_checkin_id"), "checkin_answer", ["checkin_id"], unique=False)
    op.create_table(
        "checkin_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column("field_name", sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column("old_value", sa.Text(), nullable=False),
        sa.Column("new_value", sa.Text(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("decided_by_person_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("fhir_resource_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["fhir_resource_id"],
            ["fhir_resource.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_checkin_change_checkin_id"), "checkin_change", ["checkin_id"], unique=False)
    op.create_index(op.f("ix_checkin_change_public_id"), "checkin_change", ["public_id"], unique=True)
    op.create_table(
        "checkin_photo",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("side", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkin_id", "side"),
    )
    op.create_index(op.f("ix_checkin_photo_checkin_id"), "checkin_photo", ["checkin_id"], unique=False)
    op.create_table(
        "consent_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("document", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("version", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("typed_name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("signer_person_id", sa.Integer(), nullable=True),
        sa.Column("signer_role", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("signed_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("fhir_resource_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
        ),
        sa.ForeignKeyConstraint(
            ["fhir_resource_id"],
            ["fhir_resource.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signer_person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("checkin_id", "document"),
    )
    op.create_index(
        op.f("ix_consent_signature_checkin_id"), "consent_signature", ["checkin_id"], unique=False
    )
    op.create_index(
        op.f("ix_consent_signature_patient_id"), "consent_signature", ["patient_id"], unique=False
    )
    op.create_index(op.f("ix_consent_signature_public_id"), "consent_signature", ["public_id"], unique=True)
    op.create_table(
        "registration_output",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("checkin_id", sa.Integer(), nullable=False),
        sa.Column("fhir_resource_id", sa.Integer(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["checkin_id"],
            ["checkin.id"],
        ),
        sa.ForeignKeyConstraint(
            ["fhir_resource_id"],
            ["fhir_resource.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_registration_output_checkin_id"), "registration_output", ["checkin_id"], unique=False
    )
    op.create_index(
        op.f("ix_registration_output_created_at"), "registration_output", ["created_at"], unique=False
    )
    op.create_index(
        op.f("ix_registration_output_fhir_resource_id"),
        "registration_output",
        ["fhir_resource_id"],
        unique=False,
    )


def downgrade() -> None:
    for table in (
        "registration_output",
        "consent_signature",
        "checkin_photo",
        "checkin_change",
        "checkin_answer",
        "checkin",
        "checkin_offer",
    ):
        op.drop_table(table)
