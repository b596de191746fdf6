"""Proxy grants: who may act for which patient, since when, until when, and who said so."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow

RELATIONSHIPS = ("parent", "guardian", "caregiver")
LEVELS = ("full", "limited")


class ProxyGrant(SQLModel, table=True):
    __tablename__ = "proxy_grant"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    proxy_person_id: int = Field(foreign_key="person.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    relationship: str = Field(max_length=20)  # parent, guardian, caregiver
    level: str = Field(default="full", max_length=10)  # full, limited (age rules may lower it further)
    # A court-appointed guardian of an adult keeps access past the age of majority; a parent never does.
    beyond_majority: bool = False
    starts_on: date
    ends_on: date | None = None  # access ends at the start of this day
    granted_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_by_person_id: int | None = Field(default=None, foreign_key="person.id")
