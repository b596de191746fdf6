"""Sessions: the signed cookie, the database row, timeouts, background requests, sign-out."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from portal.models import AuditEvent, LoginSession
from portal.models.base import utcnow
from portal.security import sessions
from tests.conftest import CSRF_COOKIE, SESSION_COOKIE, form_post, log_in, make_person, reload


def age(session, login, *, minutes: int = 0, created_hours: int = 0) -> None:
    row = session.get(LoginSession, login.id)
    row.last_seen_at = utcnow() - timedelta(minutes=minutes)
    if created_hours:
        row.expires_at = utcnow() - timedelta(minutes=1)
    session.add(row)
    session.commit()


def test_signed_in_person_sees_their_name(client, session) -> None:
    person = make_person(session, display_name="Grace Hopper")
    log_in(client, session, person)

    response = client.get("/account")

    assert response.status_code == 200
    assert "Grace Hopper" in response.text
    assert '<button class="link">Sign out</button>' in response.text


def test_signed_out_page_request_goes_to_login_with_next(client) -> None:
    response = client.get("/account/passkeys", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account/passkeys"


def test_signed_out_htmx_request_gets_hx_redirect(client) -> None:
    response = client.get("/account/passkeys", headers={"HX-Request": "true"}, follow_redirects=False)

    assert response.headers["hx-redirect"] == "/login?next=/account/passkeys"
    assert response.status_code == 401


def test_tampered_cookie_is_refused_and_cleared(client, session) -> None:
    login = log_in(client, session, make_person(session))
    client.cookies.set(SESSION_COOKIE, sessions.sign(client.app.state.settings, login.id) + "x")

    response = client.get("/account", follow_redirects=False)

    assert response.headers["location"] == "/login?next=/account&ended=1"
    assert f"{SESSION_COOKIE}=;" in response.headers["set-cookie"]


def test_sign_in_page_says_why_the_person_is_there(client) -> None:
    response = client.get("/login?next=/account&ended=1")

    assert "You were signed out" in response.text


def test_cookie_signed_with_another_key_is_refused(client, session, settings) -> None:
    login = log_in(client, session, make_person(session))
    other = settings.with_overrides(secret_key=type(settings.secret_key)("another-key-" * 4))
    client.cookies.set(SESSION_COOKIE, sessions.sign(other, login.id))

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 303


def test_patient_session_ends_after_fifteen_idle_minutes(client, session) -> None:
    login = log_in(client, session, make_person(session))
    age(session, login, minutes=16)

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 303
    assert reload(session, LoginSession, login.id).revoked_reason == "idle"


def test_patient_session_lives_through_fourteen_idle_minutes(client, session) -> None:
    login = log_in(client, session, make_person(session))
    age(session, login, minutes=14)

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 200


def test_staff_idle_timeout_is_their_own(client, session) -> None:
    login = log_in(client, session, make_person(session, staff_role="clinician"))
    age(session, login, minutes=20)

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 200
    assert login.idle_minutes == 30


def test_session_ends_at_its_absolute_lifetime(client, session) -> None:
    login = log_in(client, session, make_person(session))
    age(session, login, created_hours=12)

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 303


def test_absolute_lifetime_is_twelve_hours(session) -> None:
    person = make_person(session)

    login = sessions.open_session(session, person_id=person.id, method="test")

    assert timedelta(hours=11, minutes=59) < login.expires_at - login.created_at <= timedelta(hours=12)


def test_background_htmx_request_does_not_extend_the_idle_timeout(client, session) -> None:
    login = log_in(client, session, make_person(session))
    age(session, login, minutes=10)
    before = reload(session, LoginSession, login.id).last_seen_at

    client.get("/account", headers={"HX-Request": "true", "Sec-Fetch-Mode": "cors"})

    assert reload(session, LoginSession, login.id).last_seen_at == before


def test_page_navigation_extends_the_idle_timeout(client, session) -> None:
    login = log_in(client, session, make_person(session))
    age(session, login, minutes=10)
    before = reload(session, LoginSession, login.id).last_seen_at

    client.get("/account", headers={"Sec-Fetch-Mode": "navigate"})

    assert reload(session, LoginSession, login.id).last_seen_at > before


@pytest.mark.parametrize(
    ("method", "headers", "extends"),
    [
        ("GET", {"sec-fetch-mode": "navigate"}, True),
        ("GET", {}, True),
        ("GET", {"hx-request": "true"}, False),
        ("GET", {"hx-request": "true", "sec-fetch-mode": "cors"}, False),
        ("GET", {"hx-request": "true", "hx-boosted": "true"}, True),
        ("GET", {"sec-fetch-mode": "cors"}, False),
        ("POST", {"hx-request": "true", "sec-fetch-mode": "cors"}, True),
    ],
)
def test_which_requests_count_as_activity(method, headers, extends) -> None:
    assert sessions.counts_as_activity(method, headers) is extends


def test_sign_out_revokes_the_row_and_clears_the_browser(client, session) -> None:
    login = log_in(client, session, make_person(session))
    cookie = client.cookies[SESSION_COOKIE]

    response = form_post(client, "/logout", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["clear-site-data"] == '"cache", "storage"'
    assert reload(session, LoginSession, login.id).revoked_at is not None
    client.cookies.set(SESSION_COOKIE, cookie)
    assert client.get("/account", follow_redirects=False).status_code == 303


def test_sign_out_is_audited(client, session) -> None:
    person = make_person(session)
    log_in(client, session, person)

    form_post(client, "/logout")

    events = session.exec(select(AuditEvent).where(AuditEvent.action == "sign-out")).all()
    session.commit()
    assert [e.actor_person_id for e in events] == [person.id]


def test_sign_out_issues_a_new_csrf_token(client, session) -> None:
    log_in(client, session, make_person(session))
    old_token = client.get("/account").cookies.get(CSRF_COOKIE) or client.cookies[CSRF_COOKIE]

    form_post(client, "/logout", follow_redirects=False)

    assert client.cookies[CSRF_COOKIE] != old_token


def test_disabled_person_is_signed_out(client, session) -> None:
    person = make_person(session)
    log_in(client, session, person)
    person.disabled = True
    session.add(person)
    session.commit()

    response = client.get("/account", follow_redirects=False)

    assert response.status_code == 303


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/account/passkeys", "/account/passkeys"),
        ("/records?tab=labs", "/records?tab=labs"),
        ("//evil.example/x", "/account"),
        ("/\\evil.example", "/account"),
        ("https://evil.example/", "/account"),
        ("javascript:alert(1)", "/account"),
        ("", "/account"),
        (None, "/account"),
    ],
)
def test_next_is_restricted_to_local_paths(given, expected) -> None:
    assert sessions.safe_next(given) == expected


def test_signed_in_visit_to_login_goes_to_a_local_next_only(client, session) -> None:
    log_in(client, session, make_person(session))

    response = client.get("/login?next=//evil.example", follow_redirects=False)

    assert response.headers["location"] == "/account"


def test_require_staff_refuses_patients(client, session) -> None:
    log_in(client, session, make_person(session))

    response = client.get("/front-desk")

    assert response.status_code == 403
