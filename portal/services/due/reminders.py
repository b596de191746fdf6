"""The mail "Something is due in your portal": at most once a month per person, only when something new
has come due, never naming a vaccine or a patient, and never to someone who turned it off.

The worker runs `send_due_reminders` every round; each person is looked at once a clinic day at most,
claimed with a conditional update so two workers never mail the same person twice. What is due is read
through the door with the recipient's own access (a limited proxy's reminder is computed from the
limited view), audited as "remind" from the worker, and kept only as short hashes.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import date, datetime, timedelta, tzinfo

from sqlalchemy import Engine, and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal import db, i18n
from portal.config import Settings
from portal.i18n import N_
from portal.models.base import utcnow
from portal.models.due import DueReminder
from portal.models.people import Person
from portal.provenance import Provenance
from portal.services import access, mail
from portal.services.access import Area, Look, PatientScope

log = logging.getLogger("portal.due")

MONTH = timedelta(days=30)
BATCH = 100  # people looked at per worker round
WHERE = Provenance(route="worker:due-reminders")
LOOK = Look(Area.RECORD, "ImmunizationRecommendation", action="remind")
SUBJECT = N_("Something is due in your portal")
BODY = N_("Something is due in your portal. Sign in to see what: %(link)s")
TURN_OFF = N_("You can turn off these reminders on your account page.")


def keys_due_now(session: Session, scope: PatientScope, today: date, zone: tzinfo) -> frozenset[str]:
    """What is due now for this patient, as this scope sees it, by stable keys (for the reminder)."""
    from portal.services.due import what_is_due  # the package imports this module

    return what_is_due(session, scope, today=today, zone=zone).keys_due_now


def _digest(patient_public_id: str, key: str) -> str:
    return hashlib.sha256(f"{patient_public_id}|{key}".encode()).hexdigest()[:16]


def _waiting(today: date, now: datetime) -> object:
    """Reminders on, not looked at today, no mail in the last month (a person with no row qualifies)."""
    return and_(
        col(DueReminder.enabled).is_(True),
        or_(col(DueReminder.checked_on).is_(None), col(DueReminder.checked_on) < today),
        or_(col(DueReminder.last_sent_at).is_(None), col(DueReminder.last_sent_at) < now - MONTH),
    )


def send_due_reminders(engine: Engine, settings: Settings) -> int:
    """One worker round's reminders; how many mails were queued."""
    today, now = settings.today(), utcnow()
    with db.transaction(engine) as session:
        people = list(
            session.scalars(
                select(col(Person.id))
                .outerjoin(DueReminder, col(DueReminder.person_id) == col(Person.id))
                .where(col(Person.staff_role).is_(None), col(Person.disabled).is_(False))
                .where(col(Person.email).is_not(None), col(Person.email) != "")
                .where(or_(col(DueReminder.person_id).is_(None), _waiting(today, now)))  # type: ignore[arg-type]
                .order_by(col(Person.id))
                .limit(BATCH)
            )
        )
    queued = 0
    for person_id in people:
        assert person_id is not None
        with db.transaction(engine) as session:
            queued += remind(session, settings, person_id, today=today, now=now)
    return queued


def _claim(session: Session, person_id: int, today: date, now: datetime) -> DueReminder | None:
    if session.get(DueReminder, person_id) is None:
        try:
            with session.begin_nested():
                session.add(DueReminder(person_id=person_id))
        except IntegrityError:
            pass  # another worker made it first; the conditional update below decides
    claimed = session.connection().execute(
        update(DueReminder)
        .where(col(DueReminder.person_id) == person_id, _waiting(today, now))  # type: ignore[arg-type]
        .values(checked_on=today)
    )
    if claimed.rowcount != 1:
        return None
    return session.get(DueReminder, person_id, populate_existing=True)


def remind(session: Session, settings: Settings, person_id: int, *, today: date, now: datetime) -> int:
    """Look at what is due for everyone `person_id` can act for; queue the mail if something is new."""
    state = _claim(session, person_id, today, now)
    person = session.get(Person, person_id)
    if state is None or person is None or not person.email:
        return 0
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    asker = access.Asker(person, today, rules, now, WHERE)
    due: set[str] = set()
    for patient, _level in access.patients_for(session, person, today=today, rules=rules):
        opened = access.read(session, asker, patient.public_id, LOOK, keys_due_now, today, settings.timezone)
        if opened is not None:
            due |= {_digest(patient.public_id, key) for key in opened.data}
    new = due - set(state.announced.split())
    state.announced = " ".join(sorted(due))
    session.add(state)
    if not new:
        return 0
    with i18n.using(person.locale):
        body = (
            i18n.gettext(BODY) % {"link": settings.origin + "/"}
            + "\n\n"
            + i18n.gettext(TURN_OFF)
            + f" {settings.origin}/account/reminders\n\n{settings.clinic_name}\n"
        )
        mail.enqueue(session, to=person.email, subject=i18n.gettext(SUBJECT), body=body)
    state.last_sent_at = now
    return 1


def reminders_on(session: Session, person: Person) -> bool:
    state = session.get(DueReminder, person.id)
    return state is None or state.enabled


def set_reminders(session: Session, person: Person, *, on: bool) -> bool:
    """The person's own choice (not patient data: it is about their mail); returns it."""
    assert person.id is not None
    state = session.get(DueReminder, person.id) or DueReminder(person_id=person.id)
    state.enabled = on
    session.add(state)
    session.flush()
    log.info("due reminders %s", "on" if on else "off")
    return on
