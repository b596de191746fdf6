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
from portal.models.refills import PharmacyChoice, RefillEvent, RefillRequest
from portal.models.registration import (
    CheckIn,
    CheckInAnswer,
    CheckInChange,
    CheckInOffer,
    CheckInPhoto,
    ConsentSignature,
    RegistrationOutput,
)
from portal.models.results import ResultHold

__all__ = [
    "Allergy",
    "CheckIn",
    "CheckInAnswer",
    "CheckInChange",
    "CheckInOffer",
    "CheckInPhoto",
    "ConsentSignature",
    "RegistrationOutput",
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
    "PharmacyChoice",
    "Patient",
    "Person",
    "PrintJob",
    "Procedure",
    "ProxyGrant",
    "RateLimitBucket",
    "RecoveryCode",
    "RefillEvent",
    "RefillRequest",
    "ResultHold",
    "WebAuthnChallenge",
]
