"""One time, many hands: 100 patients tap the same time at once against a served app (SQLite or the
PostgreSQL the test command started). Exactly one gets it; the 99 others are told it was just taken and
shown the next open times; the database holds one appointment for it."""

from __future__ import annotations

import asyncio
import re

import httpx2 as httpx
from sqlmodel import Session, select
from starlette.datastructures import Secret

from portal.config import Settings
from portal.db import make_engine
from portal.models import Appointment, Patient, Person, SlotHold
from portal.security import csrf, sessions
from portal.services.scheduling.seed import seed_calendar
from tests.process_helpers import SECRET_KEY, free_port, portal_env, start_server

ATTEMPTS = 100


def test_a_hundred_people_tapping_one_time_at_once_give_one_appointment(database_url, tmp_path) -> None:
    port = free_port()
    origin = f"http://localhost:{port}"
    settings = Settings(
        secret_key=Secret(SECRET_KEY), database_url=database_url, data_dir=tmp_path, origin=origin
    )
    engine = make_engine(database_url)
    with Session(engine, expire_on_commit=False) as session:
        seed_calendar(session, tz=settings.timezone, today=settings.today())
        people = [Person(display_name=f"Patient {n}") for n in range(ATTEMPTS)]
        session.add_all(people)
        session.flush()
        patients = [
            Patient(fhir_id=f"race-{n}", given_name=f"P{n}", person_id=person.id)
            for n, person in enumerate(people)
        ]
        session.add_all(patients)
        session.flush()
        cookies = [
            sessions.sign(settings, sessions.open_session(session, person_id=p.id, method="test").id)
            for p in people
        ]
        session.commit()
    server = start_server(portal_env(database_url, tmp_path, origin), tmp_path / "server.log", port=port)
    try:
        answers = asyncio.run(race(settings, origin, [p.public_id for p in patients], cookies))
    finally:
        server.stop()

    won = [a for a in answers if a[0] == 303]
    told = [a for a in answers if a[0] == 409 and "someone just took that time" in a[1]]
    assert len(won) == 1, sorted({a[0] for a in answers})
    assert len(told) == ATTEMPTS - 1
    chosen = answers[0][2]
    assert all(chosen not in body and 'name="time"' in body for _, body, _ in told)
    with Session(engine) as session:
        assert len(session.exec(select(Appointment)).all()) == 1
        assert len({h.appointment_id for h in session.exec(select(SlotHold))}) == 1
    engine.dispose()


async def race(
    settings: Settings, origin: str, charts: list[str], cookies: list[str]
) -> list[tuple[int, str, str]]:
    clients = [httpx.AsyncClient(base_url=origin, timeout=120) for _ in charts]
    try:
        for client, cookie in zip(clients, cookies, strict=True):
            client.cookies.set(sessions.cookie_name(settings), cookie)
        first = await clients[0].get(f"/p/{charts[0]}/appointments/book?type=sick")
        key = re.findall(r'name="time" value="([^"]+)"', first.text)[0]
        tokens = []
        for client in clients:
            await client.get("/login")
            tokens.append(client.cookies[csrf.cookie_name(settings)])

        async def attempt(client, chart, token, cookie):
            # The cookies by hand: a cookie jar files "localhost" under "localhost.local".
            jar = f"{sessions.cookie_name(settings)}={cookie}; {csrf.cookie_name(settings)}={token}"
            client.cookies.clear()
            response = await client.post(
                f"/p/{chart}/appointments/book",
                data={"csrf_token": token, "type": "sick", "time": key},
                headers={"Origin": origin, "Cookie": jar},
            )
            return response.status_code, response.text, key

        return await asyncio.gather(
            *(attempt(c, ch, t, k) for c, ch, t, k in zip(clients, charts, tokens, cookies, strict=True))
        )
    finally:
        for client in clients:
            await client.aclose()
