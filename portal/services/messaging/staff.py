"""The care team's side: pools (an admin defines them), the inbox per pool and "mine", and what staff do to
a thread (assign, internal note, close, move to another patient's record), plus each patient's portal use
at a glance. Changes to one thread take the `PatientScope` of its patient; the inbox lists many patients
and writes one audit event per patient shown (as the patient search does).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, func, select

from portal.models.access import ProxyGrant
from portal.models.identity import LoginSession
from portal.models.messaging import (
    STATUSES,
    TOPICS,
    CarePool,
    CarePoolMember,
    Message,
    MessageRead,
    MessageThread,
    TopicRoute,
)
from portal.models.people import Patient, Person, StaffRole
from portal.provenance import Provenance
from portal.services import access, audit
from portal.services.access import Area, Asker, Look, PatientScope, Screen
from portal.services.errors import Refused
from portal.services.messaging import fhir
from portal.services.messaging.threads import Draft, ThreadPage, check, find_thread, thread_page
from portal.services.messaging.writing import Sent, _store

INBOX_SIZE = 100
AGES = {"1d": timedelta(days=1), "3d": timedelta(days=3), "7d": timedelta(days=7)}


# ------------------------------------------------------------------------------------------ the pools


@dataclass(frozen=True)
class PoolRow:
    pool: CarePool
    topics: list[str]
    members: list[Person]


def pools(session: Session) -> list[PoolRow]:
    """Every pool with its topics and members (no patient data)."""
    found = []
    for pool in session.exec(select(CarePool).order_by(col(CarePool.name))):
        topics = list(session.exec(select(TopicRoute.topic).where(TopicRoute.pool_id == pool.id)))
        members = list(
            session.exec(
                select(Person)
                .join(CarePoolMember, col(CarePoolMember.person_id) == Person.id)
                .where(CarePoolMember.pool_id == pool.id)
                .order_by(col(Person.display_name))
            )
        )
        found.append(PoolRow(pool, sorted(topics), members))
    return found


def save_pool(
    session: Session, admin: Person, *, name: str, topics: list[str], emails: list[str]
) -> CarePool:
    """An admin defines (or redefines) a pool: its name, the topics routed to it, its members by email."""
    access.require_screen(admin, Screen.CARE_TEAMS)
    name = name.strip()
    if not name or len(name) > 100:
        raise Refused("pool_name")
    if any(topic not in TOPICS for topic in topics):
        raise Refused("bad_topic")
    members = []
    for email in emails:
        person = session.exec(select(Person).where(Person.email == email.strip().lower())).first()
        if person is None or person.staff_role is None:
            raise Refused("pool_member_unknown")
        members.append(person)
    pool = session.exec(select(CarePool).where(CarePool.name == name)).first() or CarePool(name=name)
    session.add(pool)
    session.flush()
    for topic in topics:
        route = session.get(TopicRoute, topic) or TopicRoute(topic=topic, pool_id=pool.id or 0)
        route.pool_id = pool.id or 0
        session.add(route)
    for old in session.exec(select(CarePoolMember).where(CarePoolMember.pool_id == pool.id)):
        session.delete(old)
    session.flush()
    for person in members:
        session.add(CarePoolMember(pool_id=pool.id or 0, person_id=person.id or 0))
    return pool


# ---------------------------------------------------------------------------------------------- inbox


@dataclass(frozen=True)
class InboxFilter:
    pool: str = ""  # a pool's public id, "mine", or "" for every pool
    status: str = ""
    topic: str = ""
    age: str = ""  # "1d", "3d", "7d": waiting at least this long


@dataclass(frozen=True)
class InboxRow:
    thread_public_id: str
    patient_public_id: str
    patient_name: str
    subject: str
    topic: str
    status: str
    confidential: bool
    assignee: str | None
    last_message_at: datetime
    unread: int


def inbox(
    session: Session, person: Person, wanted: InboxFilter, *, now: datetime, provenance: Provenance
) -> list[InboxRow]:
    """Threads for the care team, filtered; only those the person's role may read (the same staff decision
    the door makes for one chart). One audit event per patient listed."""
    access.require_screen(person, Screen.INBOX)
    decision = access.staff_decision(person, Area.MESSAGES)
    if not decision.allowed:
        return []
    statement = select(MessageThread, Patient).join(Patient, col(Patient.id) == MessageThread.patient_id)
    if not decision.sees_patient_messages:
        statement = statement.where(col(MessageThread.confidential).is_(False))
    if wanted.pool == "mine":
        statement = statement.where(MessageThread.assignee_person_id == person.id)
    elif wanted.pool:
        statement = statement.join(CarePool, col(CarePool.id) == MessageThread.pool_id).where(
            CarePool.public_id == wanted.pool
        )
    if wanted.status in STATUSES:
        statement = statement.where(MessageThread.status == wanted.status)
    else:
        statement = statement.where(MessageThread.status != "closed")
    if wanted.topic in TOPICS:
        statement = statement.where(MessageThread.topic == wanted.topic)
    if wanted.age in AGES:
        statement = statement.where(col(MessageThread.last_message_at) <= now - AGES[wanted.age])
    statement = statement.order_by(col(MessageThread.last_message_at)).limit(INBOX_SIZE)
    found = session.exec(statement).all()
    ids = [thread.id for thread, _ in found]
    unread: dict[int, int] = dict(
        session.exec(  # type: ignore[arg-type]
            select(Message.thread_id, func.count())
            .where(
                col(Message.thread_id).in_(ids),
                col(Message.author_kind) != "staff",
                ~select(MessageRead.id)
                .where(MessageRead.message_id == Message.id, col(MessageRead.staff).is_(True))
                .exists(),
            )
            .group_by(col(Message.thread_id))
        ).all()
    )
    names = {
        p.id: p.display_name
        for p in session.exec(
            select(Person).where(col(Person.id).in_({t.assignee_person_id for t, _ in found} - {None}))
        )
    }
    for patient_id in sorted({patient.id for _, patient in found if patient.id is not None}):
        audit.record(
            session,
            action="view",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            patient_id=patient_id,
            resource_type="Communication",
            provenance=provenance,
        )
    return [
        InboxRow(
            thread.public_id,
            patient.public_id,
            patient.display_name,
            thread.subject,
            thread.topic,
            thread.status,
            thread.confidential,
            names.get(thread.assignee_person_id) if thread.assignee_person_id else None,
            thread.last_message_at,
            unread.get(thread.id or 0, 0),
        )
        for thread, patient in found
    ]


def pool_choices(session: Session) -> list[tuple[str, str]]:
    return [(p.public_id, p.name) for p in session.exec(select(CarePool).order_by(col(CarePool.name)))]


# ------------------------------------------------------------------------------------- one thread


@dataclass(frozen=True)
class Glance:
    """The patient's portal use, for staff: the seed's "no way to know whether a patient uses it"."""

    activated: bool
    last_sign_in: datetime | None
    proxies: list[tuple[str, str]]  # (name, relationship) of each grant not revoked
    unread_by_patient_side: int  # staff messages no one on the patient's side has opened


@dataclass(frozen=True)
class StaffTools:
    glance: Glance
    pools: list[tuple[str, str]]
    colleagues: list[tuple[str, str]]  # (public id, name) of staff who read messages


def staff_tools(session: Session, scope: PatientScope, thread: MessageThread) -> StaffTools | None:
    if not scope.staff:
        return None
    patient = scope.patient
    last = None
    if patient.person_id is not None:
        last = session.exec(
            select(func.max(LoginSession.created_at)).where(LoginSession.person_id == patient.person_id)
        ).one()
    proxies = [
        (person.display_name, grant.relationship)
        for grant, person in session.exec(
            select(ProxyGrant, Person)
            .join(Person, col(Person.id) == ProxyGrant.proxy_person_id)
            .where(ProxyGrant.patient_id == patient.id, col(ProxyGrant.revoked_at).is_(None))
        )
    ]
    unread = session.exec(
        select(func.count())
        .select_from(Message)
        .join(MessageThread, col(MessageThread.id) == Message.thread_id)
        .where(
            MessageThread.patient_id == patient.id,
            Message.author_kind == "staff",
            col(Message.internal).is_(False),
            ~select(MessageRead.id)
            .where(MessageRead.message_id == Message.id, col(MessageRead.staff).is_(False))
            .exists(),
        )
    ).one()
    glance = Glance(patient.person_id is not None, last, proxies, unread)
    roles = [r.value for r in StaffRole if Area.MESSAGES in access.STAFF_AREAS.get(r, frozenset())]
    colleagues = [
        (p.public_id, p.display_name)
        for p in session.exec(
            select(Person)
            .where(col(Person.staff_role).in_(roles), ~col(Person.disabled))
            .order_by(col(Person.display_name))
        )
    ]
    return StaffTools(glance, pool_choices(session), colleagues)


@dataclass(frozen=True)
class Changed:
    thread: MessageThread

    @property
    def public_id(self) -> str:
        return self.thread.public_id


def _staff_thread(session: Session, scope: PatientScope, thread_public_id: str) -> MessageThread | None:
    return find_thread(session, scope, thread_public_id) if scope.staff else None


def assign(
    session: Session, scope: PatientScope, thread_public_id: str, *, assignee: str, pool: str
) -> Changed | None:
    """Give the thread to a colleague (by public id, "" for nobody) and/or move it to a pool."""
    thread = _staff_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    if assignee:
        person = session.exec(select(Person).where(Person.public_id == assignee)).first()
        if person is None or access.staff_decision(person, Area.MESSAGES).allowed is False:
            raise Refused("assignee_unknown")
        if thread.confidential and not access.staff_decision(person, Area.MESSAGES).sees_patient_messages:
            raise Refused("assignee_cannot_read")
        thread.assignee_person_id = person.id
    else:
        thread.assignee_person_id = None
    if pool:
        found = session.exec(select(CarePool).where(CarePool.public_id == pool)).first()
        if found is None:
            raise Refused("pool_unknown")
        thread.pool_id = found.id
    if thread.status == "new":
        thread.status = "open"
    session.add(thread)
    return Changed(thread)


def add_note(session: Session, scope: PatientScope, thread_public_id: str, draft: Draft) -> Sent | None:
    """An internal note: shown to staff only, never mailed, never in the patient's FHIR."""
    thread = _staff_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    check(draft, new_thread=False)
    return _store(session, scope, thread, draft, [], internal=True)


def set_status(
    session: Session, scope: PatientScope, thread_public_id: str, *, status: str
) -> Changed | None:
    """Close (or reopen) a thread."""
    thread = _staff_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    if status not in STATUSES:
        raise Refused("bad_status")
    thread.status = status
    session.add(thread)
    return Changed(thread)


MOVE_IN = "move"


def _receive(session: Session, scope: PatientScope, thread: MessageThread) -> Changed | None:
    """The receiving chart's half of a move (its own decision and audit event)."""
    if not scope.staff or (thread.confidential and not scope.sees_patient_messages):
        return None
    thread.patient_id = scope.patient_id
    session.add(thread)
    session.flush()
    fhir.refresh_thread(session, thread)
    return Changed(thread)


def move(
    session: Session, scope: PatientScope, thread_public_id: str, *, asker: Asker, target_fhir_id: str
) -> Changed | None:
    """Move a thread written in the wrong chart to another patient's (named by the clinic's patient id):
    both charts' logs record it (this chart's event from the caller's `act`, the other's from its own)."""
    thread = _staff_thread(session, scope, thread_public_id)
    if thread is None:
        return None
    target = session.exec(select(Patient).where(Patient.fhir_id == target_fhir_id.strip()[:64])).first()
    if target is None:
        raise Refused("move_target_unknown")
    if target.id == scope.patient_id:
        return Changed(thread)  # already there
    look = Look(Area.MESSAGES, "Communication", thread.public_id, action=MOVE_IN)
    moved = access.act(session, asker, target.public_id, look, _receive, thread)
    if moved is None or moved.data is None:
        raise Refused("move_target_unknown")
    return moved.data


def staff_inbox_links(session: Session, person: Person) -> bool:
    """Whether to show the inbox link: a role that opens the inbox screen."""
    return access.may_use_screen(person, Screen.INBOX)


def open_statuses() -> list[str]:
    return [s for s in STATUSES if s != "closed"]


def thread_with_tools(
    session: Session, scope: PatientScope, thread_public_id: str
) -> tuple[ThreadPage, StaffTools | None] | None:
    """The thread page's reader: the thread as this scope sees it, and the care team's tools for staff."""
    page = thread_page(session, scope, thread_public_id)
    if page is None:
        return None
    return page, staff_tools(session, scope, page.thread)
