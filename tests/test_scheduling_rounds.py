"""The worker's scheduling round: reminders 3 and 1 days before, wait-list offers in turn (the first to
accept gets the time and their old visit is released; two accepting at once: exactly one wins), and the
front desk's digest."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx2 as httpx
from sqlmodel import Session, select
from starlette.datastructures import Secret

from portal.config import Settings
from portal.db import make_engine
from portal.models import Appointment, OutboxMail, Patient, Person, SlotHold, WaitListEntry, WaitListOffer
from portal.models.base import utcnow
from portal.security import csrf, sessions
from portal.services.scheduling.rounds import run_scheduling_round
from portal.services.scheduling.seed import seed_calendar
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.process_helpers import SECRET_KEY, free_port, portal_env, start_server
from tests.scheduling_helpers import booked_visit, calendar, family, open_time_keys, wait_list_offer


def mails(session: Session) -> list[OutboxMail]:
    session.expire_all()
    found = list(session.exec(select(OutboxMail).order_by(OutboxMail.id)))
    session.commit()
    return found


def test_reminders_go_three_days_and_one_day_before_once_each_without_details(app, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    visit = booked_visit(session, child, days_ahead=5, reason="Rash on arm")
    visit.booked_by_person_id = parent.id
    session.commit()
    start = visit.start_at

    run_scheduling_round(app.state.engine, settings, now=start - timedelta(days=4))
    assert mails(session) == []
    run_scheduling_round(app.state.engine, settings, now=start - timedelta(days=2, hours=23))
    run_scheduling_round(app.state.engine, settings, now=start - timedelta(days=2, hours=22))
    first = mails(session)
    run_scheduling_round(app.state.engine, settings, now=start - timedelta(hours=20))
    both = mails(session)

    assert len(first) == 1 and len(both) == 2
    assert all(m.to_address == "pat.parent@example.org" for m in both)
    assert all("Rash" not in m.body and "Sick" not in m.body for m in both)
    assert f"/appointments/{visit.public_id}" in both[0].body


def test_a_cancelled_earlier_time_is_offered_in_turn_and_taking_it_releases_the_old_visit(
    app, client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = family(session)
    chart, child_id = child.public_id, child.id
    times = open_time_keys(session, settings)
    log_in(client, session, parent)
    form_post(client, f"/p/{chart}/appointments/book", {"type": "sick", "time": times[-1]})
    session.commit()
    late = session.exec(select(Appointment)).one()
    late_id, late_start = late.public_id, late.start_at
    session.commit()
    joined = form_post(client, f"/p/{chart}/appointments/{late_id}/earlier", {})
    assert joined.status_code == 200 and "wait list" in joined.text
    # Someone else's earlier visit is cancelled: its time opens.
    other_person = make_person(session, display_name="Other", email="other@example.org")
    other = make_patient(session, given_name="Oli", person_id=other_person.id)
    other_chart, other_id = other.public_id, other.id
    log_in(client, session, other_person)
    form_post(client, f"/p/{other_chart}/appointments/book", {"type": "sick", "time": times[0]})
    session.commit()
    theirs = session.exec(select(Appointment).where(Appointment.patient_id == other_id)).one().public_id
    session.commit()
    # Take every open time but the one that will open, so that it is the only earlier time.
    run_scheduling_round(app.state.engine, settings)
    assert session.exec(select(WaitListOffer)).first() is not None  # an open earlier time, offered at once
    session.commit()
    form_post(client, f"/p/{other_chart}/appointments/{theirs}/cancel", {"confirm": "yes"})

    run_scheduling_round(app.state.engine, settings, now=utcnow() + timedelta(hours=5))  # first offer expired
    session.expire_all()
    offers = [
        (o.status, o.public_id, o.start_at)
        for o in session.exec(select(WaitListOffer).order_by(WaitListOffer.id))
    ]
    session.commit()
    assert [status for status, _, _ in offers] == ["expired", "open"]
    _, offered, offered_at = offers[1]
    offer_mail = mails(session)[-1]
    assert offer_mail.to_address == "pat.parent@example.org" and "earlier" in offer_mail.body
    log_in(client, session, parent)
    session.commit()
    page = client.get(f"/p/{chart}/appointments/offers/{offered}")
    assert page.status_code == 200 and "Take the earlier time" in page.text

    taken = form_post(client, f"/p/{chart}/appointments/offers/{offered}/accept", {})

    assert taken.status_code == 200 and "Your visit is booked" in taken.text
    session.expire_all()
    visits = {
        a.start_at: a.status
        for a in session.exec(select(Appointment).where(Appointment.patient_id == child_id))
    }
    assert visits[late_start] == "cancelled"
    assert visits[offered_at] == "booked"
    assert session.exec(select(WaitListEntry)).one().status == "done"
    session.commit()


def test_an_offer_of_another_patient_is_not_found(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    stranger = make_person(session, display_name="Stranger")
    offer = wait_list_offer(session, child, parent, open_time_keys(session, settings)[0])
    session.commit()
    log_in(client, session, stranger)

    assert client.get(f"/p/{child.public_id}/appointments/offers/{offer.public_id}").status_code == 404


def test_the_desk_digest_counts_what_patients_did_online(app, client, session, settings) -> None:
    settings.extra["front_desk_email"] = "desk@example.org"
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    form_post(
        client, f"/p/{child.public_id}/appointments/request", {"type": "new-patient", "preferred": "Any"}
    )
    form_post(
        client,
        f"/p/{child.public_id}/appointments/book",
        {"type": "sick", "time": open_time_keys(session, settings)[0]},
    )

    run_scheduling_round(app.state.engine, settings)
    run_scheduling_round(app.state.engine, settings)

    digests = [m for m in mails(session) if m.to_address == "desk@example.org"]
    assert len(digests) == 1
    assert "Booked online: 1" in digests[0].body and "Asked for a visit: 1" in digests[0].body
    assert "Kit" not in digests[0].body and "Any" not in digests[0].body


def test_two_people_taking_one_offered_time_at_once_one_gets_it(database_url, tmp_path) -> None:
    port = free_port()
    origin = f"http://localhost:{port}"
    settings = Settings(
        secret_key=Secret(SECRET_KEY), database_url=database_url, data_dir=tmp_path, origin=origin
    )
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        seed_calendar(session, tz=settings.timezone, today=settings.today())
        session.flush()
        people = [Person(display_name=f"Waiting {n}") for n in range(2)]
        session.add_all(people)
        session.flush()
        patients = [
            Patient(fhir_id=f"wait-{n}", given_name=f"W{n}", person_id=p.id) for n, p in enumerate(people)
        ]
        session.add_all(patients)
        session.flush()
        key = open_time_keys(session, settings)[0]
        offers = [
            wait_list_offer(session, p, person, key) for p, person in zip(patients, people, strict=True)
        ]
        cookies = [
            sessions.sign(settings, sessions.open_session(session, person_id=p.id, method="test").id)
            for p in people
        ]
        session.commit()
    server = start_server(portal_env(database_url, tmp_path, origin), tmp_path / "server.log", port=port)
    try:
        answers = asyncio.run(
            race(
                settings,
                origin,
                [(p.public_id, o.public_id) for p, o in zip(patients, offers, strict=True)],
                cookies,
            )
        )
    finally:
        server.stop()

    assert sorted(answers) == [303, 409]
    with Session(engine) as session:
        start = offers[0].start_at
        at_time = session.exec(
            select(Appointment).where(Appointment.start_at == start, Appointment.status == "booked")
        ).all()
        assert len(at_time) == 1
        assert len({h.appointment_id for h in session.exec(select(SlotHold))}) == 1
        kept = session.exec(select(Appointment).where(Appointment.status == "booked")).all()
        assert len(kept) == 2  # the winner's new visit, and the loser's old one
    engine.dispose()


async def race(
    settings: Settings, origin: str, targets: list[tuple[str, str]], cookies: list[str]
) -> list[int]:
    clients = [httpx.AsyncClient(base_url=origin, timeout=60) for _ in targets]
    try:
        tokens = []
        for client in clients:
            await client.get("/login")
            tokens.append(client.cookies[csrf.cookie_name(settings)])

        async def attempt(client, target, token, cookie):
            jar = f"{sessions.cookie_name(settings)}={cookie}; {csrf.cookie_name(settings)}={token}"
            client.cookies.clear()
            chart, offer = target
            response = await client.post(
                f"/p/{chart}/appointments/offers/{offer}/accept",
                data={"csrf_token": token},
                headers={"Origin": origin, "Cookie": jar},
            )
            return response.status_code

        return await asyncio.gather(
            *(attempt(c, t, tok, k) for c, t, tok, k in zip(clients, targets, tokens, cookies, strict=True))
        )
    finally:
        for client in clients:
            await client.aclose()
