"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.access import ProxyGrant
from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.models.due import DueReminder
from portal.models.identity import (
    LoginSession,
    OneTimeCode,
    OutboxMail,
    Passkey,
    PasswordLogin,
    RateLimitBucket,
    RecoveryCode,
    WebAuthnChallenge,
)
from portal.models.people import Patient, Person
from portal.models.printing import PrintJob
from portal.models.records import (
    Allergy,
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    FhirIdentifier,
    FhirLink,
    FhirResource,
    Immunization,
    MedicationRequest,
    Observation,
    ObservationComponent,
    Procedure,
)
from portal.models.results import ResultHold

__all__ = [
    "Allergy",
    "AuditCheckpoint",
    "AuditEvent",
    "ClinicalDocument",
    "Condition",
    "DiagnosticReport",
    "DueReminder",
    "Encounter",
    "FhirIdentifier",
    "FhirLink",
    "FhirResource",
    "Immunization",
    "LoginSession",
    "MedicationRequest",
    "Observation",
    "ObservationComponent",
    "OneTimeCode",
    "OutboxMail",
    "Passkey",
    "PasswordLogin",
    "Patient",
    "Person",
    "PrintJob",
    "Procedure",
    "ProxyGrant",
    "RateLimitBucket",
    "RecoveryCode",
    "ResultHold",
    "WebAuthnChallenge",
]
