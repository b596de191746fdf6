"""Writing messages: starting a thread, replying, archiving, with the idempotency key of each rendered form,
and who must be told (the patient side's readers)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.config import Settings
from portal.models.access import ProxyGrant
from portal.models.messaging import (
    Message,
    MessageAttachment,
    MessageThread,
    ThreadArchive,
    TopicRoute,
)
from portal.services import access
from portal.services.access import Level, PatientScope
from portal.services.errors import Refused
from portal.services.messaging import fhir, notices
from portal.services.messaging.files import CleanFile, clean_all
from portal.services.messaging.threads import Draft, _is_teen, _relationships, check, find_thread, rules_of


@dataclass(frozen=True)
class Sent:
    thread: MessageThread
    message: Message
    replayed: bool  # the key had been used: this is the message stored the first time

    @property
    def public_id(self) -> str:
        """The thread's id, for the audit event."""
        return self.thread.public_id


def _replay(session: Session, scope: PatientScope, key: str) -> Sent | None:
    """The message already stored with this key by this person for this patient, if any."""
    found = session.exec(
        select(Message, MessageThread)
        .join(MessageThread, col(MessageThread.id) == Message.thread_id)
        .where(Message.idempotency_key == key)
    ).first()
    if found is None:
        return None
    message, thread = found
    if message.author_person_id != scope.viewer.id or thread.patient_id != scope.patient_id:
        raise Refused("form_expired")  # someone else's key: never show or join their thread
    return Sent(thread, message, replayed=True)


def _author(session: Session, scope: PatientScope) -> tuple[str, str, str | None]:
    """(name, kind, relationship) of the person writing, frozen into the message."""
    viewer = scope.viewer
    if scope.staff:
        return viewer.display_name, "staff", viewer.staff_role
    if scope.level is Level.SELF:
        return viewer.display_name, "self", None
    return viewer.display_name, "proxy", _relationships(session, scope).get(viewer.id or 0, "caregiver")


def _store(
    session: Session,
    scope: PatientScope,
    thread: MessageThread,
    draft: Draft,
    cleaned: list[CleanFile],
    *,
    internal: bool = False,
) -> Sent:
    name, kind, relationship = _author(session, scope)
    message = Message(
        thread_id=thread.id or 0,
        author_person_id=scope.viewer.id,
        author_name=name,
        author_kind=kind,
        author_relationship=relationship,
        internal=internal,
        body=draft.body.strip(),
        idempotency_key=draft.key,
        created_at=scope.now,
    )
    try:
        with session.begin_nested():
            if thread.id is None:
                session.add(thread)
                session.flush()
                message.thread_id = thread.id or 0
            session.add(message)
            session.flush()
    except IntegrityError:
        # The same key, sent at the same moment from another tab or a retry: keep the first.
        replayed = _replay(session, scope, draft.key)
        if replayed is None:
            raise
        return replayed
    files = [
        MessageAttachment(
            message_id=message.id or 0,
            filename=f.filename,
            media_type=f.media_type,
            size=len(f.content),
            content=f.content,
            created_at=scope.now,
        )
        for f in cleaned
    ]
    session.add_all(files)
    session.flush()
    fhir.keep(session, thread, message, files)
    return Sent(thread, message, replayed=False)


def start_thread(session: Session, scope: PatientScope, settings: Settings, draft: Draft) -> Sent | None:
    """A patient or proxy writes to the care team about this patient. Staff do not start threads here."""
    if scope.staff:
        return None
    check(draft, new_thread=True)
    replayed = _replay(session, scope, draft.key)
    if replayed is not None:
        return replayed
    cleaned = clean_all(draft.files)
    route = session.get(TopicRoute, draft.topic)
    teen_self = scope.level is Level.SELF and _is_teen(scope, settings.today(), rules_of(settings))
    thread = MessageThread(
        patient_id=scope.patient_id,
        topic=draft.topic,
        subject=draft.subject.strip(),
        pool_id=route.pool_id if route else None,
        confidential=teen_self and not draft.share_with_parents,
        started_by_person_id=scope.viewer.id,
        created_at=scope.now,
        last_message_at=scope.now,
    )
    return _store(session, scope, thread, draft, cleaned)


def reply(
    session: Session, scope: PatientScope, settings: Settings, thread_public_id: str, draft: Draft
) -> Sent | None:
    """A reply in the thread: from the patient's side it reopens the thread for the care team; from staff
    it waits on the patient, and everyone on the patient's side who may see the thread is owed a notice."""
    thread = find_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    check(draft, new_thread=False)
    replayed = _replay(session, scope, draft.key)
    if replayed is not None:
        return replayed
    cleaned = clean_all(draft.files)
    sent = _store(session, scope, thread, draft, cleaned)
    if sent.replayed:
        return sent
    thread.last_message_at = scope.now
    if scope.staff:
        thread.status = "waiting"
        if thread.assignee_person_id is None:
            thread.assignee_person_id = scope.viewer.id
        notify_patient_side(session, scope, settings, thread)
    else:
        thread.status = "open" if thread.status != "new" else "new"
    session.add(thread)
    # A new message brings an archived thread back to everyone's list.
    for archived in session.exec(select(ThreadArchive).where(ThreadArchive.thread_id == thread.id)):
        session.delete(archived)
    return sent


def readers_of(session: Session, scope: PatientScope, settings: Settings, thread: MessageThread) -> list[int]:
    """Everyone on the patient's side who may see the thread today: the patient's own account, and each
    proxy in force (only a full one for a confidential thread). The mail rule, from the same rule."""
    today, rules = settings.today(), rules_of(settings)
    people: list[int] = []
    if scope.patient.person_id is not None:
        people.append(scope.patient.person_id)
    for grant in session.exec(select(ProxyGrant).where(ProxyGrant.patient_id == scope.patient_id)):
        level = access.grant_level(grant, scope.patient.birth_date, today, rules)
        if level is Level.FULL or (level is Level.LIMITED and not thread.confidential):
            people.append(grant.proxy_person_id)
    return sorted(set(people))


def notify_patient_side(
    session: Session, scope: PatientScope, settings: Settings, thread: MessageThread
) -> None:
    for person_id in readers_of(session, scope, settings, thread):
        notices.owe_notice(session, person_id, now=scope.now, zone=settings.timezone)


@dataclass(frozen=True)
class Archived:
    thread: MessageThread

    @property
    def public_id(self) -> str:
        return self.thread.public_id


def archive(
    session: Session, scope: PatientScope, thread_public_id: str, *, put_away: bool = True
) -> Archived | None:
    """Put a thread away from the viewer's list (or bring it back); nothing is deleted."""
    thread = find_thread(session, scope, thread_public_id)
    if thread is None or scope.viewer.id is None or scope.staff:
        return None
    existing = session.exec(
        select(ThreadArchive).where(
            ThreadArchive.thread_id == thread.id, ThreadArchive.person_id == scope.viewer.id
        )
    ).first()
    if put_away and existing is None:
        session.add(ThreadArchive(thread_id=thread.id or 0, person_id=scope.viewer.id, archived_at=scope.now))
    elif not put_away and existing is not None:
        session.delete(existing)
    return Archived(thread)
