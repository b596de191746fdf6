"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.access import ProxyGrant
from portal.models.audit import AuditCheckpoint, AuditEvent
from portal.models.people import Patient, Person
from portal.models.results import ResultHold

__all__ = ["AuditCheckpoint", "AuditEvent", "Patient", "Person", "ProxyGrant", "ResultHold"]
