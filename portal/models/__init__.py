"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.audit import AuditEvent
from portal.models.people import Patient, Person
from portal.models.records import (
    Allergy,
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    FhirIdentifier,
    FhirResource,
    Immunization,
    MedicationRequest,
    Observation,
    ObservationComponent,
    Procedure,
)

__all__ = [
    "Allergy",
    "AuditEvent",
    "ClinicalDocument",
    "Condition",
    "DiagnosticReport",
    "Encounter",
    "FhirIdentifier",
    "FhirResource",
    "Immunization",
    "MedicationRequest",
    "Observation",
    "ObservationComponent",
    "Patient",
    "Person",
    "Procedure",
]
