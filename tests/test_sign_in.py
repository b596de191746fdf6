"""Signing in with a discoverable passkey, and what is refused."""

from __future__ import annotations

from datetime import date

from sqlmodel import select

from portal.models import AuditEvent, LoginSession, Passkey
from tests.conftest import CSRF_COOKIE, ORIGIN, SESSION_COOKIE, csrf_token, make_patient, reload
from tests.identity_helpers import activate, issue_code, json_post, sign_in
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)


def activated(client, session, **patient_fields):
    """A patient who has activated; the browser is signed out again."""
    authenticator = SoftAuthenticator()
    patient = make_patient(session, birth_date=BIRTH, **patient_fields)
    assert activate(client, issue_code(session, patient), BIRTH, authenticator).status_code == 200
    client.cookies.clear()
    return patient, authenticator


def live_sessions(session) -> list[LoginSession]:
    rows = session.exec(select(LoginSession).where(LoginSession.revoked_at.is_(None))).all()
    session.commit()
    return list(rows)


def passkey_sessions(session) -> list[LoginSession]:
    return [s for s in live_sessions(session) if s.method == "passkey"]


def test_sign_in_with_a_passkey_shows_the_person(client, session) -> None:
    _, authenticator = activated(client, session, given_name="Mary", family_name="Seacole")

    response = sign_in(client, authenticator)

    assert response.json() == {"redirect": "/account"}
    assert "Mary Seacole" in client.get("/account").text


def test_sign_in_options_ask_for_user_verification_and_any_passkey(client) -> None:
    options = json_post(client, "/login/options").json()

    assert options["userVerification"] == "required"
    assert options["allowCredentials"] == []
    assert options["rpId"] == "localhost"


def test_sign_in_goes_to_a_local_next_only(client, session) -> None:
    _, authenticator = activated(client, session)

    response = sign_in(client, authenticator, next_path="https://evil.example/")

    assert response.json() == {"redirect": "/account"}


def test_sign_in_rotates_the_session_id(client, session) -> None:
    _, authenticator = activated(client, session)
    sign_in(client, authenticator)
    first = client.cookies[SESSION_COOKIE]

    sign_in(client, authenticator)

    assert client.cookies[SESSION_COOKIE] != first
    assert len([s for s in live_sessions(session) if s.method == "passkey"]) == 1


def test_sign_in_issues_a_new_csrf_token(client, session) -> None:
    _, authenticator = activated(client, session)
    before = csrf_token(client)

    sign_in(client, authenticator)

    assert client.cookies[CSRF_COOKIE] != before


def test_assertion_for_another_origin_is_refused(client, session) -> None:
    _, authenticator = activated(client, session)

    response = sign_in(client, authenticator, origin="https://evil.example")

    assert response.status_code == 400
    assert SESSION_COOKIE not in client.cookies and passkey_sessions(session) == []


def test_assertion_for_another_relying_party_is_refused(client, session) -> None:
    _, authenticator = activated(client, session)
    options = json_post(client, "/login/options").json()
    credential = authenticator.get(options, origin=ORIGIN, rp_id="evil.example")

    response = json_post(client, "/login/finish", {"credential": credential})

    assert response.status_code == 400 and passkey_sessions(session) == []


def test_assertion_without_user_verification_is_refused(client, session) -> None:
    _, authenticator = activated(client, session)
    authenticator.user_verified = False

    response = sign_in(client, authenticator)

    assert response.status_code == 400 and passkey_sessions(session) == []


def test_replayed_assertion_is_refused(client, session) -> None:
    _, authenticator = activated(client, session)
    options = json_post(client, "/login/options").json()
    credential = authenticator.get(options, origin=ORIGIN)
    json_post(client, "/login/finish", {"credential": credential})
    client.cookies.clear()

    response = json_post(client, "/login/finish", {"credential": credential})

    assert response.status_code == 400


def test_unknown_passkey_is_refused(client, session) -> None:
    activated(client, session)
    stranger = SoftAuthenticator()
    stranger.create({"rp": {"id": "localhost"}, "user": {"id": "AAAA"}, "challenge": "AAAA"}, origin=ORIGIN)

    response = sign_in(client, stranger)

    assert response.status_code == 400 and passkey_sessions(session) == []


def test_sign_count_and_last_use_are_stored(client, session) -> None:
    _, authenticator = activated(client, session)

    sign_in(client, authenticator)

    passkey = session.exec(select(Passkey)).one()
    session.commit()
    assert passkey.sign_count == 1 and passkey.last_used_at is not None


def test_failed_sign_in_is_audited_as_denied(client, session) -> None:
    _, authenticator = activated(client, session)

    sign_in(client, authenticator, origin="https://evil.example")

    event = session.exec(select(AuditEvent).where(AuditEvent.action == "sign-in-failed")).one()
    session.commit()
    assert event.outcome == "denied"


def test_signed_out_after_sign_out_even_with_the_old_cookie(client, session) -> None:
    _, authenticator = activated(client, session)
    sign_in(client, authenticator)
    cookie = client.cookies[SESSION_COOKIE]
    client.post("/logout", data={"csrf_token": csrf_token(client)}, headers={"Origin": ORIGIN})

    client.cookies.set(SESSION_COOKIE, cookie)

    assert client.get("/account", follow_redirects=False).status_code == 303


def test_login_page_offers_autofill_and_the_button(client) -> None:
    page = client.get("/login").text

    assert 'autocomplete="username webauthn"' in page
    assert "Sign in with a passkey</button>" in page
    assert "defer></script>" in page and "passkeys." in page


def test_login_without_javascript_offers_the_password_route(client) -> None:
    response = client.post("/login", data={"csrf_token": csrf_token(client)}, headers={"Origin": ORIGIN})

    assert response.status_code == 400
    assert "Passkeys need JavaScript" in response.text and "/login/password" in response.text


def test_activation_code_used_again_after_sign_in_is_refused(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)
    activate(client, code, BIRTH)

    response = activate(client, code, BIRTH)

    assert response.status_code == 400
    assert reload(session, type(patient), patient.id).person_id is not None


def test_assertion_naming_another_user_is_refused(client, session) -> None:
    _, authenticator = activated(client, session)
    for stored in authenticator.credentials.values():
        stored["user_handle"] = b"someone-else"

    response = sign_in(client, authenticator)

    assert response.status_code == 400 and passkey_sessions(session) == []
