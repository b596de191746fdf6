"""the audit search by person reads one person's newest events along an index

The admin's search by person matches the actor or the person a proxy acted for. With an index on each
column alone, a busy staff member's thousands of events were all fetched and sorted to show fifty; with
(person, id) each side is read newest first and stops at the page, and counted from the index alone.

Revision ID: 0022_audit_person_order
Revises: 0021_resource_patient_type
Create Date: 2026-12-06 16:50:00
"""

from __future__ import annotations

from alembic import op

revision = "0022_audit_person_order"
down_revision = "0021_resource_patient_type"
branch_labels = None
depends_on = None

# (old single-column index, new index, its columns); on PostgreSQL an index made on the partitioned
# table is made on every month's partition too, and on the months made later.
REPLACED = (
    ("ix_audit_event_actor_person_id", "ix_audit_event_actor_person_id_id", ["actor_person_id", "id"]),
    (
        "ix_audit_event_on_behalf_of_person_id",
        "ix_audit_event_on_behalf_of_person_id_id",
        ["on_behalf_of_person_id", "id"],
    ),
)


def upgrade() -> None:
    for old, new, columns in REPLACED:
        op.create_index(new, "audit_event", columns)
        op.drop_index(old, table_name="audit_event")


def downgrade() -> None:
    for old, new, columns in REPLACED:
        op.create_index(old, "audit_event", columns[:1])
        op.drop_index(new, table_name="audit_event")
