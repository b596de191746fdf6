"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.access import ProxyGrant
from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.models.billing import (
    BilledVisit,
    LedgerEntry,
    Payment,
    PaymentPlan,
    PlanInstalment,
    ProcessorEvent,
    Statement,
)
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
    "BilledVisit",
    "ClinicalDocument",
    "Condition",
    "DiagnosticReport",
    "Encounter",
    "FhirIdentifier",
    "FhirLink",
    "FhirResource",
    "Immunization",
    "LedgerEntry",
    "LoginSession",
    "MedicationRequest",
    "Observation",
    "ObservationComponent",
    "OneTimeCode",
    "OutboxMail",
    "Passkey",
    "PasswordLogin",
    "Payment",
    "PaymentPlan",
    "PlanInstalment",
    "Patient",
    "Person",
    "PrintJob",
    "Procedure",
    "ProcessorEvent",
    "ProxyGrant",
    "RateLimitBucket",
    "RecoveryCode",
    "ResultHold",
    "Statement",
    "WebAuthnChallenge",
]
