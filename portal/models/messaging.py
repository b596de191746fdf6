"""Secure messaging: threads about one patient's record, their messages, reads, attachments, the care-team
pools that work them, and the mail notices waiting for the end of quiet hours."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow

TOPICS = ("medical", "prescription", "appointment", "billing", "other")
STATUSES = ("new", "open", "waiting", "closed")


class CarePool(SQLModel, table=True):
    """A care-team pool (nurses, front desk, billing): an admin defines it; topics route to it."""

    __tablename__ = "care_pool"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    name: str = Field(max_length=100, unique=True)
    digest_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CarePoolMember(SQLModel, table=True):
    __tablename__ = "care_pool_member"
    __table_args__ = (UniqueConstraint("pool_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    pool_id: int = Field(foreign_key="care_pool.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)


class TopicRoute(SQLModel, table=True):
    """Which pool a new thread of a topic goes to."""

    __tablename__ = "care_pool_topic"

    topic: str = Field(primary_key=True, max_length=20)
    pool_id: int = Field(foreign_key="care_pool.id")


class MessageThread(SQLModel, table=True):
    __tablename__ = "message_thread"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    topic: str = Field(max_length=20)
    subject: str = Field(max_length=200)
    status: str = Field(default="new", max_length=20, index=True)
    pool_id: int | None = Field(default=None, foreign_key="care_pool.id", index=True)
    assignee_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    # A thread a 12-17-year-old starts is hidden from a limited proxy unless the teen says otherwise.
    confidential: bool = False
    started_by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_message_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class ThreadArchive(SQLModel, table=True):
    """A person put a thread away: it leaves their list, for them alone; nothing is deleted."""

    __tablename__ = "message_thread_archive"
    __table_args__ = (UniqueConstraint("thread_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    thread_id: int = Field(foreign_key="message_thread.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    archived_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Message(SQLModel, table=True):
    __tablename__ = "message"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    thread_id: int = Field(foreign_key="message_thread.id", index=True)
    author_person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    author_name: str = Field(max_length=200)
    # "self", "proxy" or "staff"; with the proxy's relationship or the member of staff's role
    author_kind: str = Field(max_length=10)
    author_relationship: str | None = Field(default=None, max_length=20)
    internal: bool = False  # a staff note: never shown to the patient, never sent to the EHR as theirs
    body: str = Field(sa_column=Column(Text, nullable=False))
    # One key per rendered form: a double tap or a retry stores one message.
    idempotency_key: str | None = Field(default=None, unique=True, max_length=64)
    fhir_resource_id: int | None = Field(default=None, foreign_key="fhir_resource.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)


class MessageRead(SQLModel, table=True):
    """Who opened a message when: read receipts are queries over these rows, never a stored counter."""

    __tablename__ = "message_read"
    __table_args__ = (UniqueConstraint("message_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    message_id: int = Field(foreign_key="message.id", index=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    staff: bool = False  # read by the care team (for "Read by your care team at ...")
    read_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageAttachment(SQLModel, table=True):
    """A file sent with a message, kept in the database so every app server can serve it."""

    __tablename__ = "message_attachment"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    message_id: int = Field(foreign_key="message.id", index=True)
    filename: str = Field(max_length=200)
    media_type: str = Field(max_length=50)
    size: int
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MessageNotice(SQLModel, table=True):
    """A "you have a new message" mail owed to a person, sent by the worker once `due_at` has passed
    (after quiet hours); one waiting notice per person at a time."""

    __tablename__ = "message_notice"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    due_at: datetime = Field(sa_type=UTCDateTime, index=True)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class MessagePreference(SQLModel, table=True):
    """A person's choice to get message mail during quiet hours (21:00-08:00 clinic time) too."""

    __tablename__ = "message_preference"

    person_id: int = Field(foreign_key="person.id", primary_key=True)
    mail_at_night: bool = False
