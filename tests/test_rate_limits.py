"""Rate limits live in the database: per address and per account, across processes, with a clear message."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import LoginSession, RateLimitBucket
from portal.models.base import utcnow
from portal.security import ratelimit
from tests.conftest import ORIGIN, make_patient
from tests.identity_helpers import activate, issue_code, json_post, sign_in
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)
WRONG = "ZZZZ-ZZZZ-ZZZZ-ZZZZ"


def use_up(client, limit: ratelimit.Limit) -> None:
    for _ in range(limit.attempts):
        assert (
            json_post(client, "/activate/options", {"code": WRONG, "birth_date": "2000-01-01"}).status_code
            == 400
        )


def test_too_many_activation_tries_from_one_address_are_refused_with_when_to_retry(client, session) -> None:
    code = issue_code(session, make_patient(session, birth_date=BIRTH))
    use_up(client, ratelimit.ACTIVATION_ADDRESS)

    response = activate(client, code, BIRTH)  # even the right code and date of birth

    assert response.status_code == 429
    assert response.json()["error"].startswith("Too many tries. Please wait 60 minutes")
    assert response.headers["retry-after"] == "3600"
    assert session.exec(select(LoginSession)).all() == []


def test_limit_holds_across_processes(client, settings, session) -> None:
    use_up(client, ratelimit.ACTIVATION_ADDRESS)
    other_process = create_app(settings)

    with TestClient(other_process, base_url=ORIGIN) as other:
        response = json_post(other, "/activate/options", {"code": WRONG, "birth_date": "2000-01-01"})

    assert response.status_code == 429
    other_process.state.engine.dispose()


def test_limit_lifts_when_the_window_has_passed(client, session) -> None:
    use_up(client, ratelimit.ACTIVATION_ADDRESS)
    for bucket in session.exec(select(RateLimitBucket)).all():
        bucket.window_start = utcnow() - timedelta(hours=1, seconds=1)
    session.commit()

    response = json_post(client, "/activate/options", {"code": WRONG, "birth_date": "2000-01-01"})

    assert response.status_code == 400


def test_stored_keys_name_no_address_or_account(client, session) -> None:
    json_post(client, "/activate/options", {"code": WRONG, "birth_date": "2000-01-01"})

    keys = [b.key for b in session.exec(select(RateLimitBucket)).all()]

    assert len(keys) == 1 and "testclient" not in keys[0] and len(keys[0]) == 64


def test_repeated_failed_sign_ins_to_one_account_are_refused(client, session) -> None:
    authenticator = SoftAuthenticator()
    patient = make_patient(session, birth_date=BIRTH)
    activate(client, issue_code(session, patient), BIRTH, authenticator)
    client.cookies.clear()
    for _ in range(ratelimit.SIGN_IN_ACCOUNT.attempts):
        assert sign_in(client, authenticator, origin="https://evil.example").status_code == 400

    response = sign_in(client, authenticator)

    assert response.status_code == 429
    assert "Too many tries" in response.json()["error"]


def test_repeated_failed_sign_ins_from_one_address_are_refused(client, session) -> None:
    stranger = SoftAuthenticator()
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"}, origin=ORIGIN)
    for _ in range(ratelimit.SIGN_IN_ADDRESS.attempts):
        assert sign_in(client, stranger).status_code == 400

    response = sign_in(client, stranger)

    assert response.status_code == 429


def test_sign_in_options_are_limited_per_address(client, session) -> None:
    for _ in range(ratelimit.CHALLENGES_ADDRESS.attempts):
        json_post(client, "/login/options")

    response = json_post(client, "/login/options")

    assert response.status_code == 429
