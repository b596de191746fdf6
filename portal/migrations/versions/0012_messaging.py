"""messaging: threads, messages, reads, attachments, care-team pools, mail notices

Revision ID: 0012_messaging
Revises: 0011_outbox_claim
Create Date: 2026-12-01 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.models.base

revision = "0012_messaging"
down_revision = "0018_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "care_pool",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("digest_sent_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_index(op.f("ix_care_pool_public_id"), "care_pool", ["public_id"], unique=True)
    op.create_table(
        "care_pool_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["care_pool.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool_id", "person_id"),
    )
    op.create_index(op.f("ix_care_pool_member_person_id"), "care_pool_member", ["person_id"], unique=False)
    op.create_index(op.f("ix_care_pool_member_pool_id"), "care_pool_member", ["pool_id"], unique=False)
    op.create_table(
        "care_pool_topic",
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["care_pool.id"],
        ),
        sa.PrimaryKeyConstraint("topic"),
    )
    op.create_table(
        "message_notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("due_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("sent_at", portal.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_message_notice_due_at"), "message_notice", ["due_at"], unique=False)
    op.create_index(op.f("ix_message_notice_person_id"), "message_notice", ["person_id"], unique=False)
    op.create_table(
        "message_preference",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("mail_at_night", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("person_id"),
    )
    op.create_table(
        "message_thread",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=True),
        sa.Column("assignee_person_id", sa.Integer(), nullable=True),
        sa.Column("confidential", sa.Boolean(), nullable=False),
        sa.Column("started_by_person_id", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.Column("last_message_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"],
            ["care_pool.id"],
        ),
        sa.ForeignKeyConstraint(
            ["started_by_person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_message_thread_assignee_person_id"), "message_thread", ["assignee_person_id"], unique=False
    )
    op.create_index(
        op.f("ix_message_thread_last_message_at"), "message_thread", ["last_message_at"], unique=False
    )
    op.create_index(op.f("ix_message_thread_patient_id"), "message_thread", ["patient_id"], unique=False)
    op.create_index(op.f("ix_message_thread_pool_id"), "message_thread", ["pool_id"], unique=False)
    op.create_index(op.f("ix_message_thread_public_id"), "message_thread", ["public_id"], unique=True)
    op.create_index(op.f("ix_message_thread_status"), "message_thread", ["status"], unique=False)
    op.create_table(
        "message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("author_person_id", sa.Integer(), nullable=True),
        sa.Column("author_name", sa.String(length=200), nullable=False),
        sa.Column("author_kind", sa.String(length=10), nullable=False),
        sa.Column("author_relationship", sa.String(length=20), nullable=True),
        sa.Column("internal", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=64), nullable=True),
        sa.Column("fhir_resource_id", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["fhir_resource_id"],
            ["fhir_resource.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["message_thread.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key"),
    )
    op.create_index(op.f("ix_message_author_person_id"), "message", ["author_person_id"], unique=False)
    op.create_index(op.f("ix_message_created_at"), "message", ["created_at"], unique=False)
    op.create_index(op.f("ix_message_public_id"), "message", ["public_id"], unique=True)
    op.create_index(op.f("ix_message_thread_id"), "message", ["thread_id"], unique=False)
    op.create_table(
        "message_thread_archive",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("thread_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("archived_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.ForeignKeyConstraint(
            ["thread_id"],
            ["message_thread.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("thread_id", "person_id"),
    )
    op.create_index(
        op.f("ix_message_thread_archive_person_id"), "message_thread_archive", ["person_id"], unique=False
    )
    op.create_index(
        op.f("ix_message_thread_archive_thread_id"), "message_thread_archive", ["thread_id"], unique=False
    )
    op.create_table(
        "message_attachment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("media_type", sa.String(length=50), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_message_attachment_message_id"), "message_attachment", ["message_id"], unique=False
    )
    op.create_index(op.f("ix_message_attachment_public_id"), "message_attachment", ["public_id"], unique=True)
    op.create_table(
        "message_read",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("read_at", portal.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["message.id"],
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["person.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_id", "person_id"),
    )
    op.create_index(op.f("ix_message_read_message_id"), "message_read", ["message_id"], unique=False)
    op.create_index(op.f("ix_message_read_person_id"), "message_read", ["person_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_message_read_person_id"), table_name="message_read")
    op.drop_index(op.f("ix_message_read_message_id"), table_name="message_read")
    op.drop_table("message_read")
    op.drop_index(op.f("ix_message_attachment_public_id"), table_name="message_attachment")
    op.drop_index(op.f("ix_message_attachment_message_id"), table_name="message_attachment")
    op.drop_table("message_attachment")
    op.drop_index(op.f("ix_message_thread_archive_thread_id"), table_name="message_thread_archive")
    op.drop_index(op.f("ix_message_thread_archive_person_id"), table_name="message_thread_archive")
    op.drop_table("message_thread_archive")
    op.drop_index(op.f("ix_message_thread_id"), table_name="message")
    op.drop_index(op.f("ix_message_public_id"), table_name="message")
    op.drop_index(op.f("ix_message_created_at"), table_name="message")
    op.drop_index(op.f("ix_message_author_person_id"), table_name="message")
    op.drop_table("message")
    op.drop_index(op.f("ix_message_thread_status"), table_name="message_thread")
    op.drop_index(op.f("ix_message_thread_public_id"), table_name="message_thread")
    op.drop_index(op.f("ix_message_thread_pool_id"), table_name="message_thread")
    op.drop_index(op.f("ix_message_thread_patient_id"), table_name="message_thread")
    op.drop_index(op.f("ix_message_thread_last_message_at"), table_name="message_thread")
    op.drop_index(op.f("ix_message_thread_assignee_person_id"), table_name="message_thread")
    op.drop_table("message_thread")
    op.drop_table("message_preference")
    op.drop_index(op.f("ix_message_notice_person_id"), table_name="message_notice")
    op.drop_index(op.f("ix_message_notice_due_at"), table_name="message_notice")
    op.drop_table("message_notice")
    op.drop_table("care_pool_topic")
    op.drop_index(op.f("ix_care_pool_member_pool_id"), table_name="care_pool_member")
    op.drop_index(op.f("ix_care_pool_member_person_id"), table_name="care_pool_member")
    op.drop_table("care_pool_member")
    op.drop_index(op.f("ix_care_pool_public_id"), table_name="care_pool")
    op.drop_table("care_pool")
