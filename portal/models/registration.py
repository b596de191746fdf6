"""Online check-in before a visit: what the patient (or a parent) entered, step by step, and what staff
decided about each change.

All of it lives in the database, so a check-in started on a phone can be finished on a laptop. Nothing here
changes the record: a `CheckInChange` waits for a member of staff, and only an accepted one is written to
the record (and kept as a FHIR resource for the EHR).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow

STEPS = ("details", "insurance", "review", "forms", "consents")


class CheckIn(SQLModel, table=True):
    """One patient's check-in for one visit."""

    __tablename__ = "checkin"
    __table_args__ = (UniqueConstraint("patient_id", "visit_key"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    # The visit: an imported Encounter now; a booked appointment once scheduling offers them.
    visit_key: str = Field(max_length=80)  # "encounter:<id>" or "appointment:<id>": one check-in per visit
    encounter_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")
    appointment_id: int | None = Field(default=None, index=True)
    visit_start: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="started", max_length=20)  # started, submitted, reviewed
    steps_done: str = Field(default="", max_length=100)  # comma-separated step names
    details_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    insurance_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    review_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    started_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    submitted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CheckInPhoto(SQLModel, table=True):
    """A photo of the insurance card, re-encoded as JPEG without its metadata."""

    __tablename__ = "checkin_photo"
    __table_args__ = (UniqueConstraint("checkin_id", "side"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    side: str = Field(max_length=10)  # front, back
    content_type: str = Field(default="image/jpeg", max_length=40)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CheckInAnswer(SQLModel, table=True):
    """The answers to one questionnaire, as a FHIR QuestionnaireResponse."""

    __tablename__ = "checkin_answer"
    __table_args__ = (UniqueConstraint("checkin_id", "questionnaire"),)

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    questionnaire: str = Field(max_length=200)  # the Questionnaire's canonical url
    confidential: bool = False  # the clinic marks it confidential: hidden from a limited proxy
    complete: bool = False
    response_json: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    answered_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ConsentSignature(SQLModel, table=True):
    """A consent document signed by typing a full name and ticking agreement."""

    __tablename__ = "consent_signature"
    __table_args__ = (UniqueConstraint("checkin_id", "document"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    document: str = Field(max_length=40)
    version: str = Field(max_length=20)
    typed_name: str = Field(max_length=200)
    signer_person_id: int | None = Field(default=None, foreign_key="person.id")
    signer_role: str = Field(max_length=20)  # self, parent, guardian, caregiver
    signed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    fhir_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")


class CheckInChange(SQLModel, table=True):
    """One change a submitted check-in asks for, waiting for (or decided by) staff."""

    __tablename__ = "checkin_change"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    kind: str = Field(max_length=30)  # detail, insurance, allergy-stop, medication-stop, allergy-add, ...
    field_name: str = Field(default="", max_length=60)
    old_value: str = Field(default="", sa_column=Column(Text, nullable=False))
    new_value: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=20)  # pending, accepted, rejected
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))  # shown to the patient
    decided_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    fhir_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")


class RegistrationOutput(SQLModel, table=True):
    """A FHIR resource the check-in wrote for the EHR, for `portal registration export --since`."""

    __tablename__ = "registration_output"

    id: int | None = Field(default=None, primary_key=True)
    checkin_id: int = Field(foreign_key="checkin.id", index=True)
    fhir_resource_id: int = Field(foreign_key="fhir_resource.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class CheckInOffer(SQLModel, table=True):
    """A mail offering check-in for a visit was queued (once per visit)."""

    __tablename__ = "checkin_offer"
    __table_args__ = (UniqueConstraint("patient_id", "visit_key"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    visit_key: str = Field(max_length=80)
    mailed_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
