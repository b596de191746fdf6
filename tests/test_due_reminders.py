"""The mail "Something is due in your portal": sent by the worker, no names, a month apart at most, only
when something new is due, never after the person turned it off; a limited proxy's is from the limited
view."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path

from sqlmodel import select

from portal import worker
from portal.models import AuditEvent, OutboxMail, Patient, Person
from portal.models.base import utcnow
from portal.models.due import DueReminder
from portal.services.due import reminders
from tests.conftest import form_post, log_in, reload
from tests.scopes import limited_scope, person_scope
from tests.test_due import immunization, import_record, import_synthea, parent_of

NAMES = ("Bruno", "Bernhard", "Measles", "MMR", "Chickenpox", "Polio", "Hepatitis", "Flu", "vaccine ")


def outbox(session) -> list[OutboxMail]:
    session.expire_all()
    found = list(session.exec(select(OutboxMail).order_by(OutboxMail.id)))
    session.commit()
    return found


def test_the_worker_mails_a_parent_once_without_any_name(app, session) -> None:
    bruno = import_synthea(app, session, "Bruno")
    parent = parent_of(session, bruno)

    worker.run_rounds(app.state.engine, app.state.settings, once=True)
    worker.run_rounds(app.state.engine, app.state.settings, once=True)  # the same day: nothing more

    files = sorted((Path(app.state.settings.data_dir) / "outbox").glob("*.eml"))
    assert len(files) == 1
    message = message_from_bytes(files[0].read_bytes())
    assert message["To"] == parent.email
    assert message["Subject"] == "Something is due in your portal"
    text = message.get_payload(decode=True).decode()
    assert "Sign in to see what" in text and "/account/reminders" in text
    for name in NAMES:
        assert name not in text and name not in message["Subject"]
    events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "remind")))
    session.commit()
    assert [(e.patient_id, e.actor_person_id, e.route) for e in events] == [
        (bruno.id, parent.id, "worker:due-reminders")
    ]


def test_at_most_one_mail_a_month_and_only_for_something_new(app, session) -> None:
    settings = app.state.settings
    bruno = import_synthea(app, session, "Bruno")
    parent = parent_of(session, bruno)
    today, now = date.today(), utcnow()

    def look(days: int, *, forget: bool = False) -> int:
        if forget:  # as if what is due now had not been announced
            state = session.get(DueReminder, parent.id)
            state.announced = ""
            session.commit()
        queued = reminders.remind(
            session, settings, parent.id, today=today + timedelta(days=days), now=now + timedelta(days=days)
        )
        session.commit()
        return queued

    assert look(0) == 1
    assert look(1, forget=True) == 0  # something new, but the last mail is a day old
    assert look(29, forget=True) == 0
    assert look(31, forget=True) == 1  # a month on, the new item is announced
    assert look(62) == 0  # a month on again, but nothing new
    assert len(outbox(session)) == 2


def test_a_person_can_turn_the_reminders_off_and_on(app, client, session) -> None:
    bruno = import_synthea(app, session, "Bruno")
    parent = parent_of(session, bruno)
    log_in(client, session, parent)

    assert 'value="on" checked' in client.get("/account/reminders").text
    assert form_post(client, "/account/reminders", {"reminders": "maybe"}).status_code == 400
    assert reload(session, DueReminder, parent.id) is None  # a bad form stores nothing
    turned_off = form_post(client, "/account/reminders", {"reminders": "off"})
    assert turned_off.status_code == 200 and "Reminders are off." in turned_off.text

    assert reminders.send_due_reminders(app.state.engine, app.state.settings) == 0
    assert outbox(session) == []

    form_post(client, "/account/reminders", {"reminders": "on"})
    assert reminders.send_due_reminders(app.state.engine, app.state.settings) == 1
    assert 'href="/account/reminders"' in client.get("/account").text


def test_staff_and_people_without_an_address_get_no_reminder(app, session) -> None:
    bruno = import_synthea(app, session, "Bruno")
    parent = parent_of(session, bruno)
    stored = session.get(Person, parent.id)
    stored.email = None
    session.add(Person(display_name="Dr Clin", staff_role="clinician", email="dr@example.org"))
    session.commit()

    assert reminders.send_due_reminders(app.state.engine, app.state.settings) == 0


def test_a_limited_proxys_reminder_is_worked_out_from_the_limited_view(app, session, tmp_path) -> None:
    birth = date.today() - timedelta(days=14 * 366)
    teen = import_record(
        app,
        session,
        tmp_path,
        birth,
        lambda p: immunization(p, "62", date.today() - timedelta(days=200), confidential=True),
    )
    teen_account = Person(display_name="Kim", email=f"kim-{uuid.uuid4().hex[:6]}@example.org")
    session.add(teen_account)
    session.flush()
    session.get(Patient, teen.id).person_id = teen_account.id
    session.commit()
    zone = app.state.settings.timezone

    own = reminders.keys_due_now(session, person_scope(session, teen_account, teen), date.today(), zone)
    limited = reminders.keys_due_now(session, limited_scope(session, teen), date.today(), zone)

    assert any(key.startswith("HPV:") for key in own)
    assert not any(key.startswith("HPV:") for key in limited)
    assert limited  # the rest of the forecast is there
