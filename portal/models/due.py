"""Reminders that something is due: one row per person who has been checked, or who turned them off."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime


class DueReminder(SQLModel, table=True):
    """A person's reminder state. No row: reminders are on and nothing has been announced yet."""

    __tablename__ = "due_reminder"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    enabled: bool = True  # the person (a patient or a proxy) can turn the mail off
    checked_on: date | None = None  # the clinic day the worker last looked (once a day at most)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)  # at most once a month
    # What was due at the last look, as short hashes (no names): only something new is announced.
    announced: str = Field(default="", sa_type=Text)
