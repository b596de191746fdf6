"""Print jobs: a large batch of visit summaries, printed by the worker while staff watch its progress."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, LargeBinary
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow


class PrintJob(SQLModel, table=True):
    __tablename__ = "print_job"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    owner_person_id: int = Field(foreign_key="person.id", index=True)  # only they may see or fetch it
    day: date
    practitioner_fhir_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="queued", max_length=16, index=True)  # queued, running, done, failed
    total: int = 0
    done: int = 0
    pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    error: str | None = Field(default=None, max_length=100)  # an exception's class name, never its text
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    finished_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # When its worker claimed it or last reported progress: a running job silent for longer than the
    # lease belonged to a worker that died, and is claimed again.
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
