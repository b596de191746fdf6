"""People who sign in, and the patients whose records the portal holds."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow


class StaffRole(StrEnum):
    """The clinic's staff roles: the one list access, sessions, views and the CLI use."""

    FRONT_DESK = "front_desk"
    CLINICIAN = "clinician"
    BILLING = "billing"
    ADMIN = "admin"


class Person(SQLModel, table=True):
    """Someone who can sign in: a patient, a parent or caregiver, or a member of staff."""

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    display_name: str = Field(max_length=200)
    email: str | None = Field(default=None, unique=True, index=True, max_length=320)
    staff_role: str | None = Field(default=None, max_length=20)  # front_desk, clinician, billing, admin
    locale: str | None = Field(default=None, max_length=10)
    disabled: bool = False
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Patient(SQLModel, table=True):
    """A patient of the clinic, as the EHR sent them (FHIR Patient), plus the portal's own links."""

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    fhir_id: str = Field(unique=True, index=True, max_length=64)
    given_name: str = Field(default="", max_length=200)
    family_name: str = Field(default="", max_length=200)
    birth_date: date | None = None
    sex: str | None = Field(default=None, max_length=20)
    deceased: bool = False
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)  # their own account
    version_id: str | None = Field(default=None, max_length=64)
    last_updated: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resource_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    @property
    def display_name(self) -> str:
        return " ".join(part for part in (self.given_name, self.family_name) if part) or "Unnamed patient"
