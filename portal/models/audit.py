"""The audit log: one append-only table, one row per look at or change of patient data."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, utcnow


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    occurred_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_person_id: int | None = Field(default=None, index=True)  # None: the system, or signed out
    actor_role: str | None = Field(default=None, max_length=20)  # patient, proxy, front_desk, clinician...
    on_behalf_of_person_id: int | None = None  # set when a proxy acts for a patient
    patient_id: int | None = Field(default=None, index=True)
    action: str = Field(max_length=40, index=True)  # view, create, update, download, sign-in, ...
    resource_type: str | None = Field(default=None, max_length=40)
    resource_id: str | None = Field(default=None, max_length=64)  # a public or FHIR id, never PHI
    route: str | None = Field(default=None, max_length=80)  # the route's name, not its path
    outcome: str = Field(default="allowed", max_length=10)  # allowed / denied
    client_address: str | None = Field(default=None, max_length=45)
    request_id: str | None = Field(default=None, max_length=32)
    prev_hash: str = Field(default="", max_length=64)
    hash: str = Field(default="", max_length=64)
