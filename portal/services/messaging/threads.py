"""Threads about one patient's record: the list, a thread with its read receipts, writing (a new thread or a
reply, idempotent by a key per rendered form), archiving.

Every function takes the `PatientScope` the door opened (views pass them to `access.read` / `access.act`)
and sees only what `rules.visible` lets that scope see; an item it cannot see answers None, exactly like a
missing one.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import exists
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, func, select

from portal.config import Settings
from portal.models.access import ProxyGrant
from portal.models.messaging import (
    TOPICS,
    Message,
    MessageAttachment,
    MessageRead,
    MessageThread,
    ThreadArchive,
)
from portal.models.people import Person
from portal.services import access
from portal.services.access import AgeRules, Level, PatientScope
from portal.services.errors import Refused
from portal.services.messaging import notices
from portal.services.messaging.files import Upload
from portal.services.messaging.rules import shown_messages, visible

MAX_SUBJECT = 200
MAX_BODY = 5000
KEY_LENGTH = 64
PAGE_SIZE = 50


def new_key() -> str:
    """A fresh idempotency key for one rendered form."""
    return secrets.token_urlsafe(24)


@dataclass(frozen=True)
class Draft:
    """What a compose or reply form sent, as typed (checked by `check`)."""

    body: str
    key: str
    topic: str = ""
    subject: str = ""
    share_with_parents: bool = False  # a 12-17-year-old's choice: let a parent's limited view see it
    files: list[Upload] = field(default_factory=list)


def check(draft: Draft, *, new_thread: bool) -> None:
    """Refused with a code naming the field: "bad_topic", "subject_missing", "body_missing", ..."""
    if new_thread:
        if draft.topic not in TOPICS:
            raise Refused("bad_topic", field="topic")
        if not draft.subject.strip():
            raise Refused("subject_missing", field="subject")
        if len(draft.subject) > MAX_SUBJECT:
            raise Refused("subject_too_long", field="subject")
    if not draft.body.strip():
        raise Refused("body_missing", field="body")
    if len(draft.body) > MAX_BODY:
        raise Refused("body_too_long", field="body")
    if len(draft.key) > KEY_LENGTH:
        raise Refused("form_expired")


# ------------------------------------------------------------------------------------------------ lists


@dataclass(frozen=True)
class ThreadRow:
    public_id: str
    subject: str
    topic: str
    status: str
    confidential: bool
    last_message_at: datetime
    unread: int


@dataclass(frozen=True)
class ThreadList:
    rows: list[ThreadRow]
    unread: int  # every unread message of the patient this viewer may see: a query, never a counter
    archived: bool  # the list of archived threads
    mail_at_night: bool


def _unread_condition(scope: PatientScope):  # type: ignore[no-untyped-def]
    """Messages the viewer has not read: for staff, patient-side messages no one of the care team read."""
    if scope.staff:
        read = exists().where(col(MessageRead.message_id) == Message.id, col(MessageRead.staff).is_(True))
        return (col(Message.author_kind) != "staff") & ~read
    viewer_id = scope.viewer.id
    read = exists().where(col(MessageRead.message_id) == Message.id, col(MessageRead.person_id) == viewer_id)
    return (col(Message.author_kind) == "staff") & ~read


def unread_count(session: Session, scope: PatientScope) -> int:
    """Unread messages of the patient's threads that this scope may see."""
    return session.exec(
        select(func.count())
        .select_from(Message)
        .join(MessageThread, col(MessageThread.id) == Message.thread_id)
        .where(visible(scope), shown_messages(scope), _unread_condition(scope))
    ).one()


def thread_list(session: Session, scope: PatientScope, *, archived: bool = False) -> ThreadList:
    """The patient's threads this scope may see, newest first (the archived ones, when asked)."""
    put_away = exists().where(
        col(ThreadArchive.thread_id) == MessageThread.id, col(ThreadArchive.person_id) == scope.viewer.id
    )
    unread = (
        select(func.count())
        .select_from(Message)
        .where(Message.thread_id == MessageThread.id, shown_messages(scope), _unread_condition(scope))
        .scalar_subquery()
    )
    statement = (
        select(MessageThread, unread)
        .where(visible(scope), put_away if archived else ~put_away)
        .order_by(col(MessageThread.last_message_at).desc(), col(MessageThread.id).desc())
        .limit(PAGE_SIZE)
    )
    rows = [
        ThreadRow(t.public_id, t.subject, t.topic, t.status, t.confidential, t.last_message_at, int(n or 0))
        for t, n in session.exec(statement)
    ]
    at_night = notices.mail_at_night(session, scope.viewer) if scope.viewer.id is not None else False
    return ThreadList(rows, unread_count(session, scope), archived, at_night)


# ------------------------------------------------------------------------------------------- one thread


@dataclass(frozen=True)
class FileLink:
    public_id: str
    filename: str
    size: int


@dataclass(frozen=True)
class Reader:
    name: str
    relationship: str | None  # "self" for the patient, a proxy's relationship, or None for staff
    at: datetime


@dataclass(frozen=True)
class Shown:
    public_id: str
    author_name: str
    author_kind: str
    author_relationship: str | None
    body: str
    created_at: datetime
    internal: bool
    files: list[FileLink]
    read_by_care_team_at: datetime | None  # for the patient's side: "Read by your care team at 10:42"
    read_by: list[Reader]  # for staff: who on the patient's side read a staff message, and when


@dataclass(frozen=True)
class ThreadPage:
    thread: MessageThread
    messages: list[Shown]
    key: str  # the idempotency key of the reply form this page renders
    patient_name: str
    archived: bool


def find_thread(session: Session, scope: PatientScope, thread_public_id: str) -> MessageThread | None:
    """The thread, if it is one of this patient's that the scope may see."""
    thread = session.exec(
        select(MessageThread).where(MessageThread.public_id == thread_public_id, visible(scope))
    ).first()
    return thread


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, object]]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING (two tabs opening one thread at once both succeed)."""
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    module = postgresql if dialect == "postgresql" else sqlite
    statement = module.insert(MessageRead).values(rows).on_conflict_do_nothing()
    session.execute(statement)


def mark_read(session: Session, scope: PatientScope, thread: MessageThread) -> None:
    """The viewer has now read every message of the thread shown to them that someone else wrote."""
    viewer_id = scope.viewer.id
    if viewer_id is None:  # the operator at the command line reads nothing as a person
        return
    unread = session.exec(
        select(col(Message.id)).where(
            Message.thread_id == thread.id,
            shown_messages(scope),
            col(Message.author_person_id).is_distinct_from(viewer_id),
            ~exists().where(
                col(MessageRead.message_id) == Message.id, col(MessageRead.person_id) == viewer_id
            ),
        )
    ).all()
    now = scope.now
    _insert_ignoring_duplicates(
        session,
        [{"message_id": m, "person_id": viewer_id, "staff": scope.staff, "read_at": now} for m in unread],
    )


def _relationships(session: Session, scope: PatientScope) -> dict[int, str]:
    """Person id -> how they relate to the patient ("self", or a proxy's relationship)."""
    found: dict[int, str] = {}
    for grant in session.exec(select(ProxyGrant).where(ProxyGrant.patient_id == scope.patient_id)):
        found[grant.proxy_person_id] = grant.relationship
    if scope.patient.person_id is not None:
        found[scope.patient.person_id] = "self"
    return found


def thread_page(session: Session, scope: PatientScope, thread_public_id: str) -> ThreadPage | None:
    """One thread as this scope sees it (opening it marks it read: the other side's receipt)."""
    thread = find_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    mark_read(session, scope, thread)
    messages = list(
        session.exec(
            select(Message)
            .where(Message.thread_id == thread.id, shown_messages(scope))
            .order_by(col(Message.created_at), col(Message.id))
        )
    )
    ids = [m.id for m in messages]
    files: dict[int, list[FileLink]] = {}
    for row in session.exec(
        select(MessageAttachment)
        .where(col(MessageAttachment.message_id).in_(ids))
        .order_by(col(MessageAttachment.id))
    ):
        files.setdefault(row.message_id, []).append(FileLink(row.public_id, row.filename, row.size))
    relationships = _relationships(session, scope)
    care_team: dict[int, datetime] = {}
    readers: dict[int, list[Reader]] = {}
    for read, person in session.exec(
        select(MessageRead, Person)
        .join(Person, col(Person.id) == MessageRead.person_id)
        .where(col(MessageRead.message_id).in_(ids))
        .order_by(col(MessageRead.read_at))
    ):
        if read.staff:
            care_team.setdefault(read.message_id, read.read_at)
        else:
            relationship = relationships.get(read.person_id)
            readers.setdefault(read.message_id, []).append(
                Reader(person.display_name, relationship, read.read_at)
            )
    shown = [
        Shown(
            m.public_id,
            m.author_name,
            m.author_kind,
            m.author_relationship,
            m.body,
            m.created_at,
            m.internal,
            files.get(m.id or 0, []),
            care_team.get(m.id or 0) if m.author_kind != "staff" else None,
            readers.get(m.id or 0, []) if m.author_kind == "staff" else [],
        )
        for m in messages
    ]
    archived = (
        session.exec(
            select(ThreadArchive).where(
                ThreadArchive.thread_id == thread.id, ThreadArchive.person_id == scope.viewer.id
            )
        ).first()
        is not None
    )
    return ThreadPage(thread, shown, new_key(), scope.patient.display_name, archived)


def _is_teen(scope: PatientScope, today: date, rules: AgeRules) -> bool:
    born = scope.patient.birth_date
    return born is not None and rules.full_proxy_until_age <= access.age_on(born, today) < rules.adult_at_age


def rules_of(settings: Settings) -> AgeRules:
    return AgeRules(full_proxy_until_age=settings.full_proxy_until_age, adult_at_age=settings.adult_at_age)


def attachment(session: Session, scope: PatientScope, file_public_id: str) -> MessageAttachment | None:
    """One file of a message this scope may read (never of a hidden thread, never of an internal note
    for the patient's side)."""
    return session.exec(
        select(MessageAttachment)
        .join(Message, col(Message.id) == MessageAttachment.message_id)
        .join(MessageThread, col(MessageThread.id) == Message.thread_id)
        .where(MessageAttachment.public_id == file_public_id, visible(scope), shown_messages(scope))
    ).first()


def compose_page(session: Session, scope: PatientScope, settings: Settings) -> dict[str, object] | None:
    """What the compose form needs: a fresh key, and whether to offer the teen's "let my parent see"."""
    if scope.staff:
        return None
    teen_self = scope.level is Level.SELF and _is_teen(scope, settings.today(), rules_of(settings))
    return {"key": new_key(), "teen_self": teen_self, "patient_name": scope.patient.display_name}
