"""Prescription refill requests: what a patient (or proxy) asked for, the clinic's decision, its history,
and the pharmacy each patient chose last.

A request is also kept as a FHIR R4 Task in `fhir_resource` (`task_resource_id`), and an approval as a
draft MedicationRequest (`draft_resource_id`) the prescriber signs in the EHR.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text, text
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow

PENDING = "pending"


class RefillRequest(SQLModel, table=True):
    __tablename__ = "refill_request"
    # One pending request per medication: a second (or a double tap, or two tabs at once) finds the first.
    __table_args__ = (
        Index(
            "uq_refill_request_pending_medication",
            "medication_id",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    medication_id: int = Field(foreign_key="medication_request.id", index=True)
    # pending, approved, denied, needs_visit, cancelled (see services/refills/rules.py STATUSES)
    status: str = Field(default=PENDING, max_length=20, index=True)
    pharmacy_id: str | None = Field(default=None, max_length=64)  # an entry of the clinic's list
    pharmacy_other: str | None = Field(default=None, sa_type=Text)  # "other": what the patient typed
    days_left: int
    note: str | None = Field(default=None, sa_type=Text)
    requested_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decided_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    reason: str | None = Field(default=None, sa_type=Text)  # a denial's reason, in the clinic's words
    quantity: int | None = None
    refills: int | None = None
    # Only the EHR says a prescription reached the pharmacy (a re-imported Task marked completed).
    sent_to_pharmacy: bool = False
    ehr_status: str | None = Field(default=None, max_length=20)  # the Task status the EHR last sent
    task_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")
    draft_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")


class RefillEvent(SQLModel, table=True):
    """One step of a request's history, as the patient sees it: sent, approved, denied, ..."""

    __tablename__ = "refill_event"

    id: int | None = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="refill_request.id", index=True)
    status: str = Field(max_length=20)
    sent_to_pharmacy: bool = False
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PharmacyChoice(SQLModel, table=True):
    """The pharmacy a patient's last refill request named, offered first next time."""

    __tablename__ = "refill_pharmacy_choice"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", unique=True)
    pharmacy_id: str | None = Field(default=None, max_length=64)
    pharmacy_other: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
