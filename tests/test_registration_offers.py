"""The check-in offer by mail: the worker tells each person who may see a visit, once, with no details."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes
from email.message import Message

import pytest
from sqlmodel import Session, select

from portal import worker
from portal.models import AuditEvent, CheckInOffer, Encounter, ProxyGrant
from portal.services.due import reminders
from tests.conftest import make_patient, make_person
from tests.test_registration import add_row


@pytest.fixture(autouse=True)
def no_due_reminders(monkeypatch) -> None:
    """The worker's round also mails "something is due" reminders; these tests read the offers alone."""
    monkeypatch.setattr(reminders, "send_due_reminders", lambda engine, settings: 0)


def outbox(app) -> list[Message]:
    folder = app.state.settings.data_dir / "outbox"
    return [message_from_bytes(path.read_bytes()) for path in sorted(folder.glob("*.eml"))]


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def run_round(app) -> None:
    worker.run_round(app.state.engine, app.state.settings)


def years_ago(years: int) -> date:
    today = date.today()
    return today.replace(year=today.year - years, day=min(today.day, 28))


@pytest.fixture
def teen_family(session: Session):
    """A parent of a toddler and of a 15-year-old who has her own account and a confidential visit."""
    parent = make_person(session, display_name="Rosa Rivera", email="rosa@example.test")
    teen_person = make_person(session, display_name="Lucia Rivera", email="lucia@example.test", locale="es")
    toddler = make_patient(session, given_name="Ana", family_name="Rivera", birth_date=years_ago(2))
    teen = make_patient(
        session, given_name="Lucia", family_name="Rivera", birth_date=years_ago(15), person_id=teen_person.id
    )
    for child in (toddler, teen):
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id,
                patient_id=child.id,
                relationship="parent",
                starts_on=date(2010, 1, 1),
            )
        )
    session.commit()
    soon = datetime.now(UTC) + timedelta(days=3)
    add_row(session, toddler, Encounter, "Encounter", display="Well child", status="planned", start_at=soon)
    add_row(
        session,
        teen,
        Encounter,
        "Encounter",
        display="Confidential teen visit",
        status="planned",
        start_at=soon,
        confidential=True,
        practitioner="Dr Secret",
    )
    return {"parent": parent, "teen_person": teen_person, "toddler": toddler, "teen": teen}


def test_the_worker_offers_check_in_once_per_visit_without_details(app, session, teen_family) -> None:
    run_round(app)
    run_round(app)  # a second round sends nothing again

    sent = outbox(app)
    to = sorted(message["To"] for message in sent)
    # The parent hears of the toddler's visit only; the teen's confidential visit goes to the teen alone.
    assert to == ["lucia@example.test", "rosa@example.test"]
    for message in sent:
        text = message["Subject"] + body_of(message)
        assert app.state.settings.clinic_name in body_of(message)
        for detail in (
            "Rivera",
            "Ana",
            "Lucia",
            "Dr Secret",
            "Well child",
            "Confidential",
            str(date.today().year),
        ):
            assert detail not in text
    english = next(m for m in sent if m["To"] == "rosa@example.test")
    spanish = next(m for m in sent if m["To"] == "lucia@example.test")
    assert "You can check in for your visit in your portal" in body_of(english)
    assert "Puede hacer el registro" in body_of(spanish)
    assert len(session.exec(select(CheckInOffer)).all()) == 2
    refused = session.exec(
        select(AuditEvent).where(AuditEvent.action == "check-in-offered", AuditEvent.outcome == "denied")
    ).all()
    assert [(e.actor_person_id, e.patient_id) for e in refused] == [
        (teen_family["parent"].id, teen_family["teen"].id)
    ]


def test_no_offer_before_the_window_opens_and_none_for_a_past_or_cancelled_visit(
    app, session, teen_family
) -> None:
    for encounter in session.exec(select(Encounter)):
        encounter.start_at = datetime.now(UTC) + timedelta(days=app.state.settings.checkin_opens_days + 2)
        session.add(encounter)
    toddler = teen_family["toddler"]
    add_row(
        session,
        toddler,
        Encounter,
        "Encounter",
        display="Cancelled",
        status="cancelled",
        start_at=datetime.now(UTC) + timedelta(days=1),
    )
    add_row(
        session,
        toddler,
        Encounter,
        "Encounter",
        display="Past",
        start_at=datetime.now(UTC) - timedelta(days=1),
    )
    session.commit()

    run_round(app)

    assert outbox(app) == []
    assert session.exec(select(CheckInOffer)).all() == []


def test_a_limited_proxy_is_told_of_a_teens_ordinary_visit(app, session, teen_family) -> None:
    teen_visit = session.exec(select(Encounter).where(Encounter.patient_id == teen_family["teen"].id)).one()
    teen_visit.confidential = False
    session.add(teen_visit)
    session.commit()

    run_round(app)

    # The teen's ordinary visit: both the teen and the parent (a limited view still sees it) hear of it.
    assert sorted(m["To"] for m in outbox(app)) == [
        "lucia@example.test",
        "rosa@example.test",
        "rosa@example.test",
    ]
