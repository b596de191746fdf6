"""Every table, imported here so that SQLModel.metadata (and Alembic) sees them all."""

from portal.models.access import ProxyGrant
from portal.models.audit import AuditEvent
from portal.models.people import Patient, Person

__all__ = ["AuditEvent", "Patient", "Person", "ProxyGrant"]
