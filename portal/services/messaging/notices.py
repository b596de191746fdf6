"""Mail about messages, through the outbox, never with patient data in it.

A person owed a notice gets "You have a new message in your portal" and the clinic's name: never the
sender, the topic, the subject or a word of the message. Between 21:00 and 08:00 clinic time the notice
waits until 08:00, unless the person chose to get mail at night too. Staff pools get a digest of how many
threads are new or overdue; `staff_digest` mails any such list (scheduling can reuse it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from portal import db
from portal.config import Settings
from portal.models.base import utcnow
from portal.models.messaging import (
    CarePool,
    CarePoolMember,
    MessageNotice,
    MessagePreference,
    MessageThread,
)
from portal.models.people import Person
from portal.services import mail

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(8, 0)
NOTICE_SUBJECT = "You have a new message in your portal"
NOTICE_BODY = "You have a new message in your {clinic} patient portal.\n\nSign in to read it: {origin}\n"
DIGEST_HOURS = 24
OVERDUE_HOURS = 48  # a thread waiting on the care team longer than this is listed as overdue


def due_time(now: datetime, zone: ZoneInfo, *, at_night: bool) -> datetime:
    """When a notice may go: now, or 08:00 clinic time when now is in quiet hours and the person did not
    opt in."""
    local = now.astimezone(zone)
    if at_night or QUIET_UNTIL <= local.time() < QUIET_FROM:
        return now
    morning = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(morning, QUIET_UNTIL, tzinfo=zone).astimezone(now.tzinfo)


def owe_notice(session: Session, person_id: int, *, now: datetime, zone: ZoneInfo) -> None:
    """Owe `person_id` one notice (one waiting notice per person: ten replies overnight make one mail)."""
    waiting = session.exec(
        select(MessageNotice).where(
            MessageNotice.person_id == person_id, col(MessageNotice.sent_at).is_(None)
        )
    ).first()
    if waiting is not None:
        return
    preference = session.get(MessagePreference, person_id)
    at_night = preference is not None and preference.mail_at_night
    session.add(MessageNotice(person_id=person_id, due_at=due_time(now, zone, at_night=at_night)))


def set_mail_at_night(session: Session, person: Person, wanted: bool) -> MessagePreference:
    """The person's own choice (not patient data): mail during quiet hours too, or not."""
    assert person.id is not None
    preference = session.get(MessagePreference, person.id) or MessagePreference(person_id=person.id)
    preference.mail_at_night = wanted
    session.add(preference)
    return preference


def mail_at_night(session: Session, person: Person) -> bool:
    preference = session.get(MessagePreference, person.id)
    return preference is not None and preference.mail_at_night


def queue_due_notices(session: Session, settings: Settings, *, now: datetime) -> int:
    """Turn the notices whose time has come into outbox mail; how many were queued."""
    queued = 0
    due = session.exec(
        select(MessageNotice, Person)
        .join(Person, col(Person.id) == MessageNotice.person_id)
        .where(col(MessageNotice.sent_at).is_(None), col(MessageNotice.due_at) <= now)
        .order_by(col(MessageNotice.id))
        .limit(200)
        .with_for_update(skip_locked=True, of=MessageNotice)  # two workers never mail the same notice
    ).all()
    for notice, person in due:
        notice.sent_at = now
        session.add(notice)
        if person.email and not person.disabled:
            body = NOTICE_BODY.format(clinic=settings.clinic_name, origin=settings.origin)
            mail.enqueue(session, to=person.email, subject=NOTICE_SUBJECT, body=body)
            queued += 1
    return queued


def staff_digest(
    session: Session, *, to: Sequence[str], heading: str, lines: Sequence[tuple[str, int]]
) -> int:
    """Mail each address one digest: a heading and counted lines ("New messages: 3"), nothing about any
    patient. For any staff queue (the message pools; scheduling's requests)."""
    listed = [f"{label}: {count}" for label, count in lines if count]
    if not listed:
        return 0
    body = f"{heading}\n\n" + "\n".join(listed) + "\n\nSign in to the portal to work the queue.\n"
    for address in to:
        mail.enqueue(session, to=address, subject=heading, body=body)
    return len(to)


def queue_pool_digests(session: Session, settings: Settings, *, now: datetime) -> int:
    """Once a day per pool: how many of its threads are new, and how many wait on the care team too long."""
    sent = 0
    for pool in session.exec(select(CarePool).order_by(col(CarePool.id))):
        if pool.digest_sent_at is not None and now - pool.digest_sent_at < timedelta(hours=DIGEST_HOURS):
            continue
        in_pool = col(MessageThread.pool_id) == pool.id
        new = session.exec(
            select(func.count()).select_from(MessageThread).where(in_pool, MessageThread.status == "new")
        ).one()
        overdue = session.exec(
            select(func.count())
            .select_from(MessageThread)
            .where(
                in_pool,
                col(MessageThread.status).in_(("new", "open")),
                col(MessageThread.last_message_at) < now - timedelta(hours=OVERDUE_HOURS),
            )
        ).one()
        members = session.exec(
            select(Person.email)
            .join(CarePoolMember, col(CarePoolMember.person_id) == Person.id)
            .where(CarePoolMember.pool_id == pool.id, col(Person.email).is_not(None), ~col(Person.disabled))
        ).all()
        heading = f"{settings.clinic_name}: messages waiting for {pool.name}"
        lines = [("New messages", new), ("Waiting more than two days", overdue)]
        if staff_digest(session, to=[m for m in members if m], heading=heading, lines=lines):
            pool.digest_sent_at = now
            session.add(pool)
            sent += 1
    return sent


def run_notices(engine: Engine, settings: Settings) -> None:
    """The worker's round: due notices, then the pools' digests (each in its own transaction)."""
    with db.transaction(engine) as session:
        queue_due_notices(session, settings, now=utcnow())
    with db.transaction(engine) as session:
        queue_pool_digests(session, settings, now=utcnow())
