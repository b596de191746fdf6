"""Result release rules: by default results are released at once; a clinic may hold a category for a while."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, utcnow


class ResultHold(SQLModel, table=True):
    """Hold one category of results (a DiagnosticReport or Observation category code) for some hours."""

    __tablename__ = "result_hold"

    id: int | None = Field(default=None, primary_key=True)
    category: str = Field(max_length=64, unique=True)
    hold_hours: int
    reason: str = Field(sa_column=Column(Text, nullable=False))  # recorded, as the Cures Act asks
    set_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    set_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
