"""Records from the EHR: every FHIR resource as it arrived, and the columns the record pages read.

`FhirResource` keeps each resource's original JSON by (resource_type, fhir_id), so nothing the EHR sent is
lost and the export is faithful. The other tables are projections of one resource each (linked by
`resource_id`), holding only what the pages show. Links between projections (an observation's encounter,
its report) point at `fhir_resource.id`, which exists for every resource whatever its type.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow


class FhirResource(SQLModel, table=True):
    """One FHIR resource as the EHR sent it, whatever its type."""

    __tablename__ = "fhir_resource"
    __table_args__ = (
        UniqueConstraint("resource_type", "fhir_id"),
        # one patient's resources of one type (the summary's EHR recommendations): migration 0021
        Index("ix_fhir_resource_patient_type", "patient_id", "resource_type"),
    )

    id: int | None = Field(default=None, primary_key=True)
    resource_type: str = Field(max_length=64, index=True)
    fhir_id: str = Field(max_length=64, index=True)
    patient_id: int | None = Field(default=None, foreign_key="patient.id", index=True)
    version_id: str | None = Field(default=None, max_length=64)
    last_updated: datetime | None = Field(default=None, sa_type=UTCDateTime)
    content_hash: str = Field(max_length=64)
    label: str | None = Field(default=None, sa_type=Text)  # the name of a practitioner, place, organisation
    # Why the resource by itself is confidential ("security-label", "bundle-security-label",
    # "sensitive-code"), or None: the start of the confidentiality of what points at it.
    confidential_reason: str | None = Field(default=None, max_length=32)
    resource_json: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FhirIdentifier(SQLModel, table=True):
    """A business identifier of a resource, for references such as `Practitioner?identifier=sys|value`."""

    __tablename__ = "fhir_identifier"

    id: int | None = Field(default=None, primary_key=True)
    resource_id: int = Field(foreign_key="fhir_resource.id", index=True)
    resource_type: str = Field(max_length=64)
    system: str = Field(default="", sa_type=Text)
    value: str = Field(sa_type=Text, index=True)


class FhirLink(SQLModel, table=True):
    """A reference from one of a patient's resources to a clinical resource (never to a person, place or
    organisation): the paths along which confidentiality spreads to what points at a confidential item."""

    __tablename__ = "fhir_link"

    id: int | None = Field(default=None, primary_key=True)
    source_id: int = Field(foreign_key="fhir_resource.id", index=True)
    target_id: int = Field(foreign_key="fhir_resource.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)  # the source's patient


class RecordItem(SQLModel):
    """The columns every projection shares."""

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    resource_id: int = Field(foreign_key="fhir_resource.id", unique=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    fhir_id: str = Field(max_length=64)
    status: str | None = Field(default=None, max_length=64)
    code_system: str | None = Field(default=None, sa_type=Text)
    code: str | None = Field(default=None, max_length=100, index=True)
    display: str = Field(default="", sa_type=Text)
    # Hidden from a limited proxy: the resource is confidential by itself (any coding on the clinic's
    # sensitive list, or a security label on it or its bundle), or it points at a confidential item.
    confidential: bool = False
    confidential_reason: str | None = Field(default=None, max_length=32)  # its own reason, or "linked"


class Encounter(RecordItem, table=True):
    __tablename__ = "encounter"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (Index("ix_encounter_patient_start", "patient_id", "start_at", "id"),)

    class_code: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_type=Text)
    start_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    end_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    practitioner: str | None = Field(default=None, sa_type=Text)
    # The first participant the importer could resolve: lets staff pick a provider's day by FHIR id.
    practitioner_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)
    location: str | None = Field(default=None, sa_type=Text)
    organization: str | None = Field(default=None, sa_type=Text)
    diagnoses: str | None = Field(default=None, sa_type=Text)


class Observation(RecordItem, table=True):
    __tablename__ = "observation"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_observation_patient_category_time", "patient_id", "category", "effective_at", "id"),
        Index(
            "ix_observation_patient_report", "patient_id", "report_resource_id", "category", "effective_at"
        ),
        Index("ix_observation_patient_code_time", "patient_id", "code", "effective_at", "id"),
        Index("ix_observation_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    category: str | None = Field(default=None, max_length=64, index=True)  # laboratory, vital-signs, ...
    effective_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    issued: datetime | None = Field(default=None, sa_type=UTCDateTime)
    value: float | None = None
    comparator: str | None = Field(default=None, max_length=4)
    unit: str | None = Field(default=None, max_length=64)
    value_text: str | None = Field(default=None, sa_type=Text)  # a coded or string value, or components
    reference_low: float | None = None
    reference_high: float | None = None
    reference_text: str | None = Field(default=None, sa_type=Text)
    interpretation: str | None = Field(default=None, max_length=20)  # H, L, N, A, HH, LL, ...
    interpretation_display: str | None = Field(default=None, sa_type=Text)
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)
    report_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class ObservationComponent(SQLModel, table=True):
    """One part of a multi-part observation, such as the systolic and diastolic blood pressure."""

    __tablename__ = "observation_component"

    id: int | None = Field(default=None, primary_key=True)
    observation_id: int = Field(foreign_key="observation.id", index=True)
    position: int = 0
    code_system: str | None = Field(default=None, sa_type=Text)
    code: str | None = Field(default=None, max_length=100)
    display: str = Field(default="", sa_type=Text)
    value: float | None = None
    unit: str | None = Field(default=None, max_length=64)
    value_text: str | None = Field(default=None, sa_type=Text)


class DiagnosticReport(RecordItem, table=True):
    __tablename__ = "diagnostic_report"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_diagnostic_report_patient_time", "patient_id", "effective_at", "id"),
        Index("ix_diagnostic_report_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    category: str | None = Field(default=None, max_length=64)
    effective_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    issued: datetime | None = Field(default=None, sa_type=UTCDateTime)
    conclusion: str | None = Field(default=None, sa_type=Text)
    text: str | None = Field(default=None, sa_type=Text)  # a plain-text presentedForm, decoded
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class ClinicalDocument(RecordItem, table=True):
    """A DocumentReference: a visit note or other document, with its text when it is text."""

    __tablename__ = "clinical_document"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_clinical_document_patient_date", "patient_id", "date", "id"),
        Index("ix_clinical_document_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    category: str | None = Field(default=None, max_length=64)
    date: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    author: str | None = Field(default=None, sa_type=Text)
    content_type: str | None = Field(default=None, max_length=100)
    text: str | None = Field(default=None, sa_type=Text)  # shown as text, never as markup
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class Immunization(RecordItem, table=True):
    __tablename__ = "immunization"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_immunization_patient_occurred", "patient_id", "occurred_at", "id"),
        Index("ix_immunization_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    occurred_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    lot_number: str | None = Field(default=None, max_length=100)
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class MedicationRequest(RecordItem, table=True):
    __tablename__ = "medication_request"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_medication_request_patient_authored", "patient_id", "authored_on", "id"),
        Index("ix_medication_request_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    intent: str | None = Field(default=None, max_length=64)
    authored_on: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    dosage: str | None = Field(default=None, sa_type=Text)
    requester: str | None = Field(default=None, sa_type=Text)
    reason: str | None = Field(default=None, sa_type=Text)
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class Allergy(RecordItem, table=True):
    """An AllergyIntolerance; `status` is its clinical status."""

    __tablename__ = "allergy"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (Index("ix_allergy_patient_recorded", "patient_id", "recorded_at", "id"),)

    verification_status: str | None = Field(default=None, max_length=64)
    allergy_type: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=100)
    criticality: str | None = Field(default=None, max_length=64)
    onset_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reactions: str | None = Field(default=None, sa_type=Text)


class Condition(RecordItem, table=True):
    """A problem or diagnosis; `status` is its clinical status."""

    __tablename__ = "condition"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_condition_patient_onset", "patient_id", "onset_at", "id"),
        Index("ix_condition_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    verification_status: str | None = Field(default=None, max_length=64)
    category: str | None = Field(default=None, max_length=100)
    onset_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    abatement_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)


class Procedure(RecordItem, table=True):
    __tablename__ = "procedure"
    # migration 0018: a page walks one patient's index, never sorts the record
    __table_args__ = (
        Index("ix_procedure_patient_performed", "patient_id", "performed_start", "id"),
        Index("ix_procedure_patient_encounter", "patient_id", "encounter_resource_id"),
    )

    performed_start: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    performed_end: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id", index=True)
