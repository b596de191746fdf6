"""Races, against a real served app (uvicorn on a loopback port, the test's database): two requests for the
same medicine at once store one, and two clinicians deciding one request at once record one decision.
Runs on SQLite and, under tests/with_postgres.sh, on PostgreSQL."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
import uvicorn
from sqlmodel import Session, select

from portal.app import create_app
from portal.models import RefillEvent, RefillRequest
from portal.security import csrf, sessions
from tests.refill_helpers import REQUEST, family, make_medication

ROUNDS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(settings) -> Iterator[tuple[str, object, object]]:
    port = free_port()
    served_settings = settings.with_overrides(origin=f"http://127.0.0.1:{port}")
    app = create_app(served_settings)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}", served_settings, app
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        app.state.engine.dispose()


def signed_in(base: str, settings, session: Session, person) -> dict[str, str]:
    """Cookie and form token of a signed-in browser, for plain HTTP posts."""
    login = sessions.open_session(session, person_id=person.id, method="test")
    session.commit()
    token = csrf.new_token(settings)
    signed = sessions.sign(settings, login.id)
    cookies = f"{sessions.cookie_name(settings)}={signed}; {csrf.cookie_name(settings)}={token}"
    return {"cookie": cookies, "token": token}


def post(base: str, browser: dict[str, str], url: str, fields: dict[str, str]) -> int:
    answer = requests.post(
        base + url,
        data={**fields, "csrf_token": browser["token"]},
        headers={"Cookie": browser["cookie"], "Origin": base},
        allow_redirects=False,
        timeout=60,
    )
    return answer.status_code


def stored(session: Session, model, *conditions):
    session.commit()
    with Session(session.get_bind(), expire_on_commit=False) as fresh:
        found = fresh.exec(select(model).where(*conditions)).all()
        fresh.commit()
        return found


def twice_at_once(base: str, browsers: list[dict[str, str]], url: str, fields: dict[str, str]) -> list[int]:
    """The same post from two browsers, released together."""
    barrier = threading.Barrier(len(browsers))

    def send(browser: dict[str, str]) -> int:
        barrier.wait()
        return post(base, browser, url, fields)

    with ThreadPoolExecutor(len(browsers)) as pool:
        return sorted(pool.map(send, browsers))


def test_two_requests_at_once_store_one(served, session, settings) -> None:
    base, served_settings, _ = served
    fam = family(session, settings.today())
    medicines = [
        make_medication(session, fam["child"], code=str(100 + n), display=f"Medicine {n}")
        for n in range(ROUNDS)
    ]
    browsers = [signed_in(base, served_settings, session, fam["parent"]) for _ in range(2)]

    answers = [
        twice_at_once(
            base, browsers, f"/p/{fam['child'].public_id}/medications/{medicine.public_id}/refill", REQUEST
        )
        for medicine in medicines
    ]

    assert answers == [[303, 409]] * ROUNDS
    for medicine in medicines:
        assert len(stored(session, RefillRequest, RefillRequest.medication_id == medicine.id)) == 1


def test_two_decisions_at_once_record_one(served, session, settings) -> None:
    base, served_settings, _ = served
    fam = family(session, settings.today())
    medicines = [
        make_medication(session, fam["child"], code=str(200 + n), display=f"Medicine {n}")
        for n in range(ROUNDS)
    ]
    parent = signed_in(base, served_settings, session, fam["parent"])
    for medicine in medicines:
        assert (
            post(
                base, parent, f"/p/{fam['child'].public_id}/medications/{medicine.public_id}/refill", REQUEST
            )
            == 303
        )
    clinicians = [
        signed_in(base, served_settings, session, fam[name]) for name in ("clinician", "other_clinician")
    ]
    fields = {"decision": "approved", "quantity": "30", "refills": "1"}

    answers = []
    for medicine in medicines:
        (request,) = stored(session, RefillRequest, RefillRequest.medication_id == medicine.id)
        answers.append(
            twice_at_once(
                base, clinicians, f"/p/{fam['child'].public_id}/refills/{request.public_id}/decide", fields
            )
        )

    assert answers == [[200, 409]] * ROUNDS
    for request in stored(session, RefillRequest):
        events = stored(session, RefillEvent, RefillEvent.request_id == request.id)
        assert [event.status for event in events] == ["pending", "approved"]
        assert request.status == "approved"
