"""scheduling: providers, locations, visit types, weekly hours, blocks, imported slots, appointments,
slot holds (one booking per time), requests to the front desk, the wait list and its offers

Revision ID: 0014_scheduling
Revises: 0011_outbox_claim
Create Date: 2026-12-06 07:35:17.748283
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import portal.models.base

revision = "0014_scheduling"
down_revision = "0016_billing"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "clinic_location",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("address", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fhir_id"),
    )
    with op.batch_alter_table("clinic_location", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_clinic_location_public_id"), ["public_id"], unique=True)

    op.create_table(
        "provider",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fhir_id"),
    )
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_provider_public_id"), ["public_id"], unique=True)

    op.create_table(
        "visit_type",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("online", sa.Boolean(), nullable=False),
        sa.Column("new_patients", sa.Boolean(), nullable=False),
        sa.Column("established_patients", sa.Boolean(), nullable=False),
        sa.Column("min_age", sa.Integer(), nullable=True),
        sa.Column("max_age", sa.Integer(), nullable=True),
        sa.Column("proxies_may_book", sa.Boolean(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("min_notice_hours", sa.Integer(), nullable=False),
        sa.Column("cancel_notice_hours", sa.Integer(), nullable=False),
        sa.Column("video", sa.Boolean(), nullable=False),
        sa.Column("video_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("visit_type", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visit_type_code"), ["code"], unique=True)

    op.create_table(
        "imported_slot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("visit_type_code", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("start_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["clinic_location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fhir_id"),
    )
    with op.batch_alter_table("imported_slot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_imported_slot_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_imported_slot_start_at"), ["start_at"], unique=False)

    op.create_table(
        "schedule_block",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("start_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("schedule_block", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_schedule_block_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_schedule_block_public_id"), ["public_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_schedule_block_start_at"), ["start_at"], unique=False)

    op.create_table(
        "weekly_hours",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("starts", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("ends", sqlmodel.sql.sqltypes.AutoString(length=5), nullable=False),
        sa.Column("unit_minutes", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["clinic_location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("weekly_hours", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_weekly_hours_provider_id"), ["provider_id"], unique=False)

    op.create_table(
        "appointment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=True),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("visit_type_id", sa.Integer(), nullable=True),
        sa.Column("start_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("video_url", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("booked_by_person_id", sa.Integer(), nullable=True),
        sa.Column("cancel_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("cancelled_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("confirmed_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reminded_days", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("checked_in_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["booked_by_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["clinic_location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_type_id"],
            ["visit_type.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fhir_id"),
    )
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_provider_id"), ["provider_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_public_id"), ["public_id"], unique=True)
        batch_op.create_index(batch_op.f("ix_appointment_start_at"), ["start_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_updated_at"), ["updated_at"], unique=False)

    op.create_table(
        "appointment_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("visit_type_id", sa.Integer(), nullable=False),
        sa.Column("preferred", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("requested_by_person_id", sa.Integer(), nullable=True),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["visit_type_id"],
            ["visit_type.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("appointment_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointment_request_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_appointment_request_public_id"), ["public_id"], unique=True)

    op.create_table(
        "slot_hold",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("starts_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_id", "starts_at"),
    )
    with op.batch_alter_table("slot_hold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slot_hold_appointment_id"), ["appointment_id"], unique=False)

    op.create_table(
        "wait_list_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointment.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appointment_id"),
    )
    with op.batch_alter_table("wait_list_entry", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wait_list_entry_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wait_list_entry_public_id"), ["public_id"], unique=True)

    op.create_table(
        "wait_list_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.Integer(), nullable=False),
        sa.Column("location_id", sa.Integer(), nullable=True),
        sa.Column("start_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["wait_list_entry.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["location_id"],
            ["clinic_location.id"],
        ),
        sa.ForeignKeyConstraint(
            ["provider_id"],
            ["provider.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("wait_list_offer", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_wait_list_offer_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wait_list_offer_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_wait_list_offer_public_id"), ["public_id"], unique=True)
    op.create_table(
        "desk_alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("sent_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("desk_alert", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_desk_alert_sent_at"), ["sent_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("desk_alert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_desk_alert_sent_at"))
    op.drop_table("desk_alert")

    with op.batch_alter_table("wait_list_offer", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wait_list_offer_public_id"))
        batch_op.drop_index(batch_op.f("ix_wait_list_offer_entry_id"))
        batch_op.drop_index(batch_op.f("ix_wait_list_offer_patient_id"))

    op.drop_table("wait_list_offer")
    with op.batch_alter_table("wait_list_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_wait_list_entry_public_id"))
        batch_op.drop_index(batch_op.f("ix_wait_list_entry_patient_id"))

    op.drop_table("wait_list_entry")
    with op.batch_alter_table("slot_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slot_hold_appointment_id"))

    op.drop_table("slot_hold")
    with op.batch_alter_table("appointment_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_request_public_id"))
        batch_op.drop_index(batch_op.f("ix_appointment_request_patient_id"))

    op.drop_table("appointment_request")
    with op.batch_alter_table("appointment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_appointment_updated_at"))
        batch_op.drop_index(batch_op.f("ix_appointment_start_at"))
        batch_op.drop_index(batch_op.f("ix_appointment_public_id"))
        batch_op.drop_index(batch_op.f("ix_appointment_provider_id"))
        batch_op.drop_index(batch_op.f("ix_appointment_patient_id"))

    op.drop_table("appointment")
    with op.batch_alter_table("weekly_hours", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_weekly_hours_provider_id"))

    op.drop_table("weekly_hours")
    with op.batch_alter_table("schedule_block", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_schedule_block_start_at"))
        batch_op.drop_index(batch_op.f("ix_schedule_block_public_id"))
        batch_op.drop_index(batch_op.f("ix_schedule_block_provider_id"))

    op.drop_table("schedule_block")
    with op.batch_alter_table("imported_slot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imported_slot_start_at"))
        batch_op.drop_index(batch_op.f("ix_imported_slot_provider_id"))

    op.drop_table("imported_slot")
    with op.batch_alter_table("visit_type", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visit_type_code"))

    op.drop_table("visit_type")
    with op.batch_alter_table("provider", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_public_id"))

    op.drop_table("provider")
    with op.batch_alter_table("clinic_location", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_clinic_location_public_id"))

    op.drop_table("clinic_location")
