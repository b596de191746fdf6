"""The clinic's calendar and the appointments booked on it.

Templates (providers, locations, visit types, weekly hours, blocks) or slots imported from the EHR say
when a provider is free; an appointment takes one or more grid units of a provider's time, each held by a
`SlotHold` row whose (provider, start) is unique: the database, not the code, makes sure no two people
ever hold the same time.
"""

from __future__ import annotations

import secrets
from datetime import date, datetime

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow


def new_fhir_id() -> str:
    """A FHIR id (letters, digits, '-' and '.') for a resource the portal makes."""
    return f"portal-{secrets.token_hex(12)}"


class Provider(SQLModel, table=True):
    """Someone patients book with: a clinician (FHIR Practitioner)."""

    __tablename__ = "provider"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    name: str = Field(max_length=200)
    fhir_id: str | None = Field(default=None, unique=True, max_length=64)  # the EHR's Practitioner id


class ClinicLocation(SQLModel, table=True):
    """A place visits happen (FHIR Location)."""

    __tablename__ = "clinic_location"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=300)
    fhir_id: str | None = Field(default=None, unique=True, max_length=64)


class VisitType(SQLModel, table=True):
    """A kind of visit: how long it takes and who may book it online."""

    __tablename__ = "visit_type"

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(unique=True, index=True, max_length=40)
    name: str = Field(max_length=200)
    minutes: int = 20
    online: bool = True  # False: patients ask, the front desk books
    new_patients: bool = False  # may a patient without earlier visits book it online
    established_patients: bool = True
    min_age: int | None = None
    max_age: int | None = None  # inclusive, in whole years
    proxies_may_book: bool = True
    horizon_days: int = 60  # how far ahead
    min_notice_hours: int = 2  # how close to now
    cancel_notice_hours: int = 24  # inside this, the page says to call
    video: bool = False
    video_url: str | None = Field(default=None, max_length=500)
    confidential: bool = False  # hidden from a limited proxy (a teen's confidential visit)


class WeeklyHours(SQLModel, table=True):
    """A provider's bookable hours at one location on one weekday, in the clinic's time zone."""

    __tablename__ = "weekly_hours"

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    location_id: int = Field(foreign_key="clinic_location.id")
    weekday: int  # 0 Monday ... 6 Sunday
    starts: str = Field(max_length=5)  # "09:00", local wall time
    ends: str = Field(max_length=5)
    unit_minutes: int = 20  # the grid: every visit type's length is a whole number of units
    valid_from: date | None = None
    valid_until: date | None = None


class ScheduleBlock(SQLModel, table=True):
    """Time nobody can book: a holiday (every provider), a day off, or a block the front desk set."""

    __tablename__ = "schedule_block"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)  # None: everyone
    start_at: datetime = Field(sa_type=UTCDateTime, index=True)
    end_at: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(default="block", max_length=20)  # holiday, day_off, block
    reason: str = Field(default="", max_length=200)


class ImportedSlot(SQLModel, table=True):
    """A FHIR Slot from the EHR: free ones are offered, busy ones never."""

    __tablename__ = "imported_slot"

    id: int | None = Field(default=None, primary_key=True)
    fhir_id: str = Field(unique=True, max_length=64)
    provider_id: int = Field(foreign_key="provider.id", index=True)
    location_id: int | None = Field(default=None, foreign_key="clinic_location.id")
    visit_type_code: str | None = Field(default=None, max_length=40)
    start_at: datetime = Field(sa_type=UTCDateTime, index=True)
    end_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(max_length=20)  # free, busy, busy-unavailable, busy-tentative, entered-in-error


class Appointment(SQLModel, table=True):
    """A visit booked for a patient (by the portal, the front desk, or sent by the EHR)."""

    __tablename__ = "appointment"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    fhir_id: str = Field(default_factory=new_fhir_id, unique=True, max_length=64)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    provider_id: int | None = Field(default=None, foreign_key="provider.id", index=True)
    location_id: int | None = Field(default=None, foreign_key="clinic_location.id")
    visit_type_id: int | None = Field(default=None, foreign_key="visit_type.id")
    start_at: datetime = Field(sa_type=UTCDateTime, index=True)
    end_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="booked", max_length=20)  # booked, cancelled, fulfilled, noshow
    source: str = Field(default="portal", max_length=10)  # portal, staff, ehr
    reason: str | None = Field(default=None, sa_column=Column(Text))  # never in mail
    confidential: bool = False
    video_url: str | None = Field(default=None, max_length=500)
    booked_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    cancel_reason: str | None = Field(default=None, max_length=300)
    cancelled_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    confirmed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reminded_days: str = Field(default="", max_length=20)  # "3,1": reminders already queued
    checked_in_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # online check-in, when done
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class SlotHold(SQLModel, table=True):
    """One grid unit of a provider's time held by an appointment: unique, so one booking per time."""

    __tablename__ = "slot_hold"
    __table_args__ = (UniqueConstraint("provider_id", "starts_at"),)

    id: int | None = Field(default=None, primary_key=True)
    provider_id: int = Field(foreign_key="provider.id")
    starts_at: datetime = Field(sa_type=UTCDateTime)
    appointment_id: int = Field(foreign_key="appointment.id", index=True)


class AppointmentRequest(SQLModel, table=True):
    """A visit a patient may not book online, asked for with preferred days and times: the desk's queue."""

    __tablename__ = "appointment_request"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    visit_type_id: int = Field(foreign_key="visit_type.id")
    preferred: str = Field(default="", max_length=500)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    confidential: bool = False
    status: str = Field(default="open", max_length=10)  # open, booked, closed
    requested_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    appointment_id: int | None = Field(default=None, foreign_key="appointment.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WaitListEntry(SQLModel, table=True):
    """A patient with a booked visit who would take an earlier one of the same type."""

    __tablename__ = "wait_list_entry"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    appointment_id: int = Field(foreign_key="appointment.id", unique=True)
    person_id: int = Field(foreign_key="person.id")  # who asked, and who is told of offers
    status: str = Field(default="waiting", max_length=10)  # waiting, done, removed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WaitListOffer(SQLModel, table=True):
    """An earlier time offered to one wait-list entry, good until `expires_at`; the first to accept wins."""

    __tablename__ = "wait_list_offer"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    entry_id: int = Field(foreign_key="wait_list_entry.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)  # whose entry: the door checks it
    provider_id: int = Field(foreign_key="provider.id")
    location_id: int | None = Field(default=None, foreign_key="clinic_location.id")
    start_at: datetime = Field(sa_type=UTCDateTime)
    end_at: datetime = Field(sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="open", max_length=10)  # open, accepted, expired, taken
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DeskAlert(SQLModel, table=True):
    """Something a patient did online that the front desk hears of in its next digest (no patient named)."""

    __tablename__ = "desk_alert"

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=10)  # booked, cancelled, request
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
