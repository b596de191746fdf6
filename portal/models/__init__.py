"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.audit import AuditEvent
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

__all__ = [
    "AuditEvent",
    "LoginSession",
    "OneTimeCode",
    "OutboxMail",
    "Passkey",
    "PasswordLogin",
    "Patient",
    "Person",
    "RateLimitBucket",
    "RecoveryCode",
    "WebAuthnChallenge",
]
