"""indexes for record pages that cost the same whatever the size of the record

Each list reads one patient's rows in the order it shows them, so a page is a short walk along an index
(patient, then the list's time, then id) rather than a sort of the whole record.

Revision ID: 0018_indexes
Revises: 0011_outbox_claim
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0018_indexes"
down_revision = "0017_forecast"
branch_labels = None
depends_on = None

# (index name, table, columns): the same names as the models' __table_args__.
INDEXES = [
    ("ix_observation_patient_category_time", "observation", ["patient_id", "category", "effective_at", "id"]),
    # the results of a page's reports, and the results that came without a report, by day
    (
        "ix_observation_patient_report",
        "observation",
        ["patient_id", "report_resource_id", "category", "effective_at"],
    ),
    ("ix_observation_patient_code_time", "observation", ["patient_id", "code", "effective_at", "id"]),
    ("ix_diagnostic_report_patient_time", "diagnostic_report", ["patient_id", "effective_at", "id"]),
    ("ix_encounter_patient_start", "encounter", ["patient_id", "start_at", "id"]),
    ("ix_clinical_document_patient_date", "clinical_document", ["patient_id", "date", "id"]),
    ("ix_medication_request_patient_authored", "medication_request", ["patient_id", "authored_on", "id"]),
    ("ix_condition_patient_onset", "condition", ["patient_id", "onset_at", "id"]),
    ("ix_allergy_patient_recorded", "allergy", ["patient_id", "recorded_at", "id"]),
    ("ix_immunization_patient_occurred", "immunization", ["patient_id", "occurred_at", "id"]),
    ("ix_procedure_patient_performed", "procedure", ["patient_id", "performed_start", "id"]),
    # what one visit's page lists (SQLite would otherwise walk the patient's whole record)
    ("ix_observation_patient_encounter", "observation", ["patient_id", "encounter_resource_id"]),
    ("ix_diagnostic_report_patient_encounter", "diagnostic_report", ["patient_id", "encounter_resource_id"]),
    ("ix_clinical_document_patient_encounter", "clinical_document", ["patient_id", "encounter_resource_id"]),
    ("ix_condition_patient_encounter", "condition", ["patient_id", "encounter_resource_id"]),
    ("ix_immunization_patient_encounter", "immunization", ["patient_id", "encounter_resource_id"]),
    (
        "ix_medication_request_patient_encounter",
        "medication_request",
        ["patient_id", "encounter_resource_id"],
    ),
    ("ix_procedure_patient_encounter", "procedure", ["patient_id", "encounter_resource_id"]),
]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in INDEXES:
        op.drop_index(name, table_name=table)
