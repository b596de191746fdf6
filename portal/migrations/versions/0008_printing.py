"""printing: an encounter's practitioner as a link (a provider's day by FHIR id), and print jobs

Revision ID: 0008_printing
Revises: 0006_results
Create Date: 2026-11-21 06:45:00
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op
from sqlmodel import Session

import portal.models.base

revision = "0008_printing"
down_revision = "0006_results"
branch_labels = None
depends_on = None

CHUNK = 500


def upgrade() -> None:
    with op.batch_alter_table("encounter") as batch:
        batch.add_column(sa.Column("practitioner_resource_id", sa.Integer(), nullable=True))
        batch.create_index("ix_encounter_practitioner_resource_id", ["practitioner_resource_id"])
        batch.create_foreign_key(
            "fk_encounter_practitioner_resource_id", "fhir_resource", ["practitioner_resource_id"], ["id"]
        )
    backfill(op.get_bind())
    op.create_table(
        "print_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("owner_person_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("practitioner_fhir_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=True),
        sa.Column("error", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("created_at", portal.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", portal.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("print_job") as batch:
        batch.create_index("ix_print_job_owner_person_id", ["owner_person_id"], unique=False)
        batch.create_index("ix_print_job_public_id", ["public_id"], unique=True)
        batch.create_index("ix_print_job_status", ["status"], unique=False)


def participant_references(resource_json: str) -> list[str]:
    try:
        resource: Any = json.loads(resource_json)
    except ValueError:
        return []
    found = []
    for participant in resource.get("participant") or []:
        individual = participant.get("individual") if isinstance(participant, dict) else None
        reference = individual.get("reference") if isinstance(individual, dict) else None
        if isinstance(reference, str):
            found.append(reference)
    return found


def backfill(bind: sa.Connection) -> None:
    """Link the encounters already imported from the JSON they were imported from: no re-import needed."""
    from portal.fhir.references import Resolver

    rows = bind.execute(
        sa.text(
            "SELECT e.id, r.resource_json FROM encounter e JOIN fhir_resource r ON r.id = e.resource_id "
            "WHERE e.practitioner_resource_id IS NULL"
        )
    ).all()
    wanted = {encounter_id: participant_references(text) for encounter_id, text in rows}
    resolver = Resolver()
    with Session(bind=bind) as session:
        resolver.load_from_database(session, [ref for refs in wanted.values() for ref in refs])
    updates = []
    for encounter_id, references in wanted.items():
        for reference in references:
            key = resolver.resolve_local(reference)
            row_id = resolver.row_ids.get(key) if key else None
            if row_id is not None:
                updates.append({"id": encounter_id, "practitioner": row_id})
                break
    for start in range(0, len(updates), CHUNK):
        bind.execute(
            sa.text("UPDATE encounter SET practitioner_resource_id = :practitioner WHERE id = :id"),
            updates[start : start + CHUNK],
        )


def downgrade() -> None:
    op.drop_table("print_job")
    with op.batch_alter_table("encounter") as batch:
        batch.drop_constraint("fk_encounter_practitioner_resource_id", type_="foreignkey")
        batch.drop_index("ix_encounter_practitioner_resource_id")
        batch.drop_column("practitioner_resource_id")
