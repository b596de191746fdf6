"""Recovery codes: ten, single use, argon2id-hashed, shown once; a way back in after a lost device."""

from __future__ import annotations

import re

from sqlmodel import select

from portal.models import LoginSession, RecoveryCode
from portal.security import ratelimit
from tests.conftest import SESSION_COOKIE, form_post, log_in, make_person

CODE = re.compile(r"<li>([2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4}-[2-9A-HJ-NP-Z]{4})</li>")


def make_codes(client, session, person=None) -> list[str]:
    person = person or make_person(session)
    log_in(client, session, person, verified=True)
    page = form_post(client, "/account/recovery-codes").text
    client.cookies.delete(SESSION_COOKIE)
    return CODE.findall(page)


def test_ten_codes_are_shown(client, session) -> None:
    codes = make_codes(client, session)

    assert len(codes) == 10 and len(set(codes)) == 10


def test_codes_are_stored_argon2id_hashed(client, session) -> None:
    codes = make_codes(client, session)

    stored = session.exec(select(RecoveryCode)).all()

    assert len(stored) == 10 and all(r.code_hash.startswith("$argon2id$") for r in stored)
    assert not any(c.replace("-", "") in r.code_hash for c in codes for r in stored)


def test_codes_are_shown_only_once(client, session) -> None:
    person = make_person(session)
    codes = make_codes(client, session, person)
    log_in(client, session, person)

    page = client.get("/account/recovery-codes").text

    assert codes[0] not in page and "10 unused" in page


def test_a_recovery_code_signs_in_and_allows_adding_a_passkey(client, session) -> None:
    codes = make_codes(client, session)

    response = form_post(client, "/login/recovery", {"code": codes[3].lower()}, follow_redirects=False)

    assert response.headers["location"] == "/account/passkeys"
    assert "Add a passkey" in client.get("/account/passkeys").text


def test_a_recovery_code_works_once(client, session) -> None:
    codes = make_codes(client, session)
    form_post(client, "/login/recovery", {"code": codes[0]})
    client.cookies.delete(SESSION_COOKIE)

    response = form_post(client, "/login/recovery", {"code": codes[0]})

    assert response.status_code == 400 and "didn&#39;t work" in response.text


def test_a_wrong_code_is_refused_and_opens_no_session(client, session) -> None:
    make_codes(client, session)
    before = len(session.exec(select(LoginSession)).all())
    session.commit()

    response = form_post(client, "/login/recovery", {"code": "ZZZZ-ZZZZ-ZZZZ"})

    assert response.status_code == 400
    assert len(session.exec(select(LoginSession)).all()) == before


def test_new_codes_replace_the_old_ones(client, session) -> None:
    person = make_person(session)
    old = make_codes(client, session, person)
    make_codes(client, session, person)

    response = form_post(client, "/login/recovery", {"code": old[0]})

    assert response.status_code == 400


def test_too_many_wrong_codes_from_one_address_are_refused(client, session) -> None:
    codes = make_codes(client, session)
    for _ in range(ratelimit.RECOVERY_ADDRESS.attempts):
        form_post(client, "/login/recovery", {"code": "ZZZZ-ZZZZ-ZZZZ"})

    response = form_post(client, "/login/recovery", {"code": codes[0]})

    assert response.status_code == 429 and "Too many tries" in response.text
