"""Many sends at once against a served app (`portal serve --workers 2`, on SQLite or the test PostgreSQL):
20 patients each sending 10 messages at the same moment store exactly 200, and a form sent twice at once
(its idempotency key repeated) stores one message."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import date

import httpx2 as httpx
import pytest
from sqlmodel import Session, func, select
from starlette.datastructures import Secret

from portal import db
from portal.config import Settings
from portal.models import Message, Patient, Person
from portal.security import csrf, sessions
from tests.test_serving import PROJECT, free_port, wait_for_health

PATIENTS = 20
SENDS = 10
SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture
def served(database_url: str, tmp_path):
    """The app served by `portal serve` on this test's database (a copy on SQLite; on PostgreSQL the test
    server's, emptied after the test by the `database_url` fixture)."""
    engine = db.make_engine(database_url)
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = Settings(
        secret_key=Secret(SECRET), database_url=database_url, origin=origin, data_dir=tmp_path
    )
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "PORTAL_DATA_DIR": str(tmp_path),
        "DATABASE_URL": database_url,
        "PORTAL_ORIGIN": origin,
        "SECRET_KEY": SECRET,
    }
    log = tmp_path / "server.log"
    command = [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", "2"]
    with log.open("w") as output:
        process = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT)
    try:
        wait_for_health(port, log)
        yield settings, engine
    finally:
        process.terminate()
        process.wait(timeout=30)
        engine.dispose()


def sign_in_everyone(settings: Settings, engine) -> list[tuple[str, str]]:
    """(patient public id, signed session cookie) for 20 patients with their own accounts."""
    found = []
    with Session(engine, expire_on_commit=False) as session:
        for number in range(PATIENTS):
            person = Person(display_name=f"Patient {number}")
            session.add(person)
            session.flush()
            patient = Patient(
                fhir_id=f"conc-{number}",
                given_name=f"P{number}",
                birth_date=date(1980, 1, 1),
                person_id=person.id,
            )
            session.add(patient)
            session.flush()
            login = sessions.open_session(session, person_id=person.id, method="test")
            found.append((patient.public_id, sessions.sign(settings, login.id)))
        session.commit()
    return found


async def send_all(settings: Settings, people: list[tuple[str, str]]) -> list[int]:
    token = csrf.new_token(settings)
    cookie_names = (sessions.cookie_name(settings), csrf.cookie_name(settings))

    async def one(client: httpx.AsyncClient, patient: str, cookie: str, key: str) -> int:
        response = await client.post(
            f"/p/{patient}/messages",
            data={
                "csrf_token": token,
                "topic": "other",
                "subject": "Hello",
                "body": f"Message {key}",
                "key": key,
            },
            headers={
                "Origin": settings.origin,
                "Cookie": f"{cookie_names[0]}={cookie}; {cookie_names[1]}={token}",
            },
        )
        return response.status_code

    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=settings.origin, timeout=120, limits=limits) as client:
        jobs = []
        for patient, cookie in people:
            keys = [f"{patient[:8]}-{n}" for n in range(SENDS)]
            jobs += [one(client, patient, cookie, key) for key in keys]
            jobs.append(one(client, patient, cookie, keys[0]))  # the same form sent twice, at once
        return list(await asyncio.gather(*jobs))


def test_twenty_patients_sending_ten_messages_at_once_store_exactly_two_hundred(served) -> None:
    settings, engine = served
    people = sign_in_everyone(settings, engine)

    statuses = asyncio.run(send_all(settings, people))

    assert set(statuses) == {303}, sorted(set(statuses))
    with Session(engine) as session:
        assert session.exec(select(func.count()).select_from(Message)).one() == PATIENTS * SENDS
