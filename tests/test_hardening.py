"""Accounts that cannot be taken over quietly, inputs that never cause a 500, an audit log with no gaps."""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from sqlmodel import select
from starlette.routing import Route
from starlette.testclient import TestClient

from portal.app import create_app
from portal.config import ConfigError, Settings
from portal.models import AuditEvent, LoginSession, OutboxMail, Passkey, RecoveryCode
from portal.models.base import utcnow
from portal.security import headers, sessions
from portal.services import audit, mail
from portal.services.identity import codes
from portal.serving import server_options
from tests.conftest import (
    CSRF_COOKIE,
    ORIGIN,
    SESSION_COOKIE,
    form_post,
    log_in,
    make_patient,
    make_person,
    reload,
)
from tests.identity_helpers import activate, issue_code, json_post
from tests.webauthn_authenticator import SoftAuthenticator

BIRTH = date(1990, 12, 10)


def events(session, action: str) -> list[AuditEvent]:
    rows = session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()
    session.commit()
    return list(rows)


def mails(session) -> list[OutboxMail]:
    rows = session.exec(select(OutboxMail).order_by(OutboxMail.id)).all()
    session.commit()
    return list(rows)


def add_passkey(session, person, name: str) -> Passkey:
    key = Passkey(person_id=person.id, credential_id=f"cred-{name}", public_key=b"k", name=name)
    session.add(key)
    session.commit()
    return key


# ----------------------------------------------------------------------------- account takeover paths


def test_new_recovery_codes_need_a_fresh_passkey_check(client, session) -> None:
    person = make_person(session, email="ada@example.org")
    log_in(client, session, person)  # signed in, but no passkey proved lately

    response = form_post(client, "/account/recovery-codes")

    assert response.status_code == 400 and "confirm it" in response.text
    assert session.exec(select(RecoveryCode)).all() == [] and mails(session) == []


def test_new_recovery_codes_tell_the_owner_without_patient_data(client, session) -> None:
    person = make_person(session, email="ada@example.org", display_name="Ada Lovelace")
    log_in(client, session, person, verified=True)

    form_post(client, "/account/recovery-codes")

    [notice] = mails(session)
    assert notice.to_address == "ada@example.org" and "recovery codes" in notice.body
    assert "Ada" not in notice.body + notice.subject and "http" not in notice.body


def test_a_changed_email_is_told_to_the_old_address(client, session) -> None:
    person = make_person(session, email="old@example.org")
    log_in(client, session, person, verified=True)

    form_post(client, "/account/password", {"email": "new@example.org", "password": "river otter lantern 42"})

    sent = mails(session)
    assert {m.to_address for m in sent} == {"old@example.org"}
    assert any("e-mail address" in m.body for m in sent) and any("password" in m.body for m in sent)


def test_removing_a_passkey_ends_the_other_sessions_and_tells_the_owner(client, session) -> None:
    person = make_person(session, email="ada@example.org")
    lost = add_passkey(session, person, "lost")
    add_passkey(session, person, "kept")
    elsewhere = sessions.open_session(session, person_id=person.id, method="passkey")
    session.commit()
    here = log_in(client, session, person, verified=True)

    response = form_post(client, f"/account/passkeys/{lost.public_id}/remove", follow_redirects=False)

    assert response.status_code == 303
    assert reload(session, LoginSession, elsewhere.id).revoked_reason == "passkey-removed"
    assert reload(session, LoginSession, here.id).revoked_at is None
    assert ["passkey was removed" in m.body for m in mails(session)] == [True]


def test_a_sign_in_challenge_cannot_be_finished_by_another_browser(app, client, session) -> None:
    authenticator = SoftAuthenticator()
    patient = make_patient(session, birth_date=BIRTH)
    assert activate(client, issue_code(session, patient), BIRTH, authenticator).status_code == 200
    client.cookies.clear()
    options = json_post(client, "/login/options").json()
    credential = authenticator.get(options, origin=ORIGIN)

    with TestClient(app, base_url=ORIGIN) as other:
        stolen = json_post(other, "/login/finish", {"credential": credential})
    own = json_post(client, "/login/finish", {"credential": credential})

    assert stolen.status_code == 400 and SESSION_COOKIE not in other.cookies
    assert own.status_code == 200


def test_an_activation_challenge_cannot_be_finished_by_another_browser(app, client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)
    options = json_post(client, "/activate/options", {"code": code, "birth_date": str(BIRTH)}).json()
    credential = SoftAuthenticator().create(options, origin=ORIGIN)

    with TestClient(app, base_url=ORIGIN) as other:
        stolen = json_post(other, "/activate/finish", {"credential": credential})

    assert stolen.status_code == 400 and session.exec(select(Passkey)).all() == []


def test_cookies_carry_the_host_prefix_over_https(client) -> None:
    set_cookie = client.get("/login").headers["set-cookie"]

    assert CSRF_COOKIE == "__Host-portal_csrf" and SESSION_COOKIE == "__Host-portal_session"
    assert set_cookie.startswith("__Host-portal_csrf=") and "Path=/" in set_cookie and "Secure" in set_cookie


def test_cookies_keep_plain_names_on_http_localhost(settings) -> None:
    local = create_app(settings.with_overrides(origin="http://localhost:8000"))

    with TestClient(local, base_url="http://localhost:8000") as plain:
        set_cookie = plain.get("/login").headers["set-cookie"]

    assert set_cookie.startswith("portal_csrf=")


def failed_recovery(client, **kwargs):
    return form_post(client, "/login/recovery", {"code": "AAAA-BBBB-CCCC"}, **kwargs)


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(client, session) -> None:
    failed_recovery(client, headers={"X-Forwarded-For": "203.0.113.9"})

    [event] = events(session, "sign-in-failed")
    assert event.client_address == "testclient"
    assert server_options()["proxy_headers"] is False  # uvicorn would trust 127.0.0.1 on its own


def test_forwarded_for_from_a_trusted_proxy_names_the_client(settings, session) -> None:
    behind = create_app(settings.with_overrides(trusted_proxies=("10.0.0.0/8",)))

    with TestClient(behind, base_url=ORIGIN, client=("10.1.2.3", 5000)) as proxied:
        failed_recovery(proxied, headers={"X-Forwarded-For": "198.51.100.7, 10.0.0.9"})

    [event] = events(session, "sign-in-failed")
    assert event.client_address == "198.51.100.7"


def test_trusted_proxies_setting_refuses_what_is_not_an_address() -> None:
    environ = {"SECRET_KEY": "k" * 40, "PORTAL_TRUSTED_PROXIES": "10.0.0.0/8, proxy.example"}

    with pytest.raises(ConfigError, match="PORTAL_TRUSTED_PROXIES"):
        Settings.from_env(environ)


def test_sent_mail_keeps_no_readable_link(app, settings, session) -> None:
    mail.enqueue(session, to="ada@example.org", subject="Enrol", body="Open https://x.example/enrol/SECRET")
    session.commit()

    mail.send_pending(app.state.engine, settings)

    [stored] = mails(session)
    assert stored.sent_at is not None and "SECRET" not in stored.body
    assert b"SECRET" in next((settings.data_dir / "outbox").glob("*.eml")).read_bytes()


# ------------------------------------------------------------------------------ inputs and no 500s


def assert_secured(response) -> None:
    assert response.headers["content-security-policy"] == headers.CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" in response.headers


def test_a_chunked_body_over_the_limit_gets_413_with_the_security_headers(client) -> None:
    def chunks():
        for _ in range(11):
            yield b"a=" + b"x" * (1024 * 1024)

    response = client.post("/login/password", content=chunks(), headers={"Origin": ORIGIN})

    assert response.status_code == 413
    assert_secured(response)


def test_a_declared_length_over_the_limit_gets_413_with_the_security_headers(client) -> None:
    response = client.post("/login/password", content=b"x" * (11 * 1024 * 1024), headers={"Origin": ORIGIN})

    assert response.status_code == 413
    assert_secured(response)


def test_a_wrong_host_gets_the_security_headers(client) -> None:
    moved = client.get("/login", headers={"Host": "evil.example"}, follow_redirects=False)
    refused = client.post("/login", headers={"Host": "evil.example"})

    assert (moved.status_code, refused.status_code) == (308, 400)
    assert_secured(moved)
    assert_secured(refused)


def test_not_found_wrong_method_and_server_error_get_the_security_headers(app, client) -> None:
    async def broken(request):
        raise RuntimeError("boom")

    app.router.routes.append(Route("/broken-for-test", broken))

    for response in (client.get("/nowhere"), client.get("/logout"), client.get("/broken-for-test")):
        assert response.status_code in (404, 405, 500)
        assert_secured(response)


NUL = "a\x00b"


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("/login/password", {"email": NUL, "password": "x"}),
        ("/login/password", {"email": "ada@example.org", "password": NUL}),
        ("/login/recovery", {"code": NUL}),
        ("/front-desk/patients", {"name": NUL}),
    ],
)
def test_a_nul_byte_in_a_form_is_a_400(client, session, url, fields) -> None:
    log_in(client, session, make_person(session, staff_role="front_desk"))

    response = form_post(client, url, fields)

    assert response.status_code == 400


def test_a_nul_byte_in_the_account_forms_is_a_400(client, session) -> None:
    person = make_person(session)
    key = add_passkey(session, person, "phone")
    log_in(client, session, person, verified=True)

    renamed = form_post(client, f"/account/passkeys/{key.public_id}/rename", {"name": NUL})
    saved = form_post(client, "/account/password", {"email": NUL, "password": "river otter lantern 42"})

    assert (renamed.status_code, saved.status_code) == (400, 400)
    assert reload(session, Passkey, key.id).name == "phone"


def test_a_nul_byte_in_an_invitation_is_a_400(client, session) -> None:
    patient = make_patient(session)
    person = make_person(session)
    patient.person_id = person.id
    session.add(patient)
    session.commit()
    log_in(client, session, person)

    response = form_post(
        client, f"/p/{patient.public_id}/access/invite", {"email": NUL, "name": NUL, "relationship": NUL}
    )

    assert response.status_code == 400


def test_a_nul_byte_in_json_is_a_400(client) -> None:
    response = json_post(client, "/login/finish", {"credential": {"rawId": NUL, "response": {}}})

    assert response.status_code == 400


@pytest.mark.parametrize(
    "path",
    [
        "/p/" + "x" * 65,
        "/p/abc%00def/results",
        "/p/abc/results/" + "9" * 80,
        "/account/passkeys/" + "y" * 200 + "/rename",
        "/enrol/%01token",
        "/staff/print/jobs/" + "z" * 65,
    ],
)
def test_an_impossible_id_in_a_path_is_a_404(client, session, path) -> None:
    log_in(client, session, make_person(session, staff_role="admin"))

    response = form_post(client, path) if path.endswith("rename") else client.get(path)

    assert response.status_code == 404
    assert_secured(response)


@pytest.mark.parametrize("day", ["9999-12-31", "0000-01-01", "12/31/9999", "2024-02-30"])
def test_a_date_out_of_range_is_a_clear_400_everywhere(client, session, day) -> None:
    log_in(client, session, make_person(session, staff_role="admin"))

    answers = [
        form_post(client, "/front-desk/patients", {"birth_date": day}),
        form_post(client, "/front-desk/search", {"family": "Lovelace", "birth_date": day}),
        form_post(client, "/admin/audit", {"since": day}),
        form_post(client, "/admin/audit/export", {"until": day}),
        json_post(client, "/activate/options", {"code": "AAAA", "birth_date": day}),
    ]

    assert [a.status_code for a in answers] == [400] * len(answers)


# ------------------------------------------------------------------------------ the audit log, no gaps


def test_a_code_worn_out_by_wrong_tries_is_an_event(client, session) -> None:
    patient = make_patient(session, birth_date=BIRTH)
    code = issue_code(session, patient)

    for _ in range(codes.MAX_WRONG_TRIES):
        json_post(client, "/activate/options", {"code": code, "birth_date": "1991-01-01"})

    [locked] = events(session, "code-locked")
    assert (locked.patient_id, locked.outcome, locked.resource_id) == (patient.id, "denied", "activation")


def test_a_session_ending_by_timeout_is_an_event(client, session) -> None:
    person = make_person(session)
    login = log_in(client, session, person)
    row = session.get(LoginSession, login.id)
    row.last_seen_at = utcnow() - timedelta(minutes=16)
    session.add(row)
    session.commit()

    client.get("/account", follow_redirects=False)

    [ended] = events(session, "session-timeout")
    assert (ended.actor_person_id, ended.resource_id) == (person.id, login.public_id)


def test_a_cookie_failing_its_signature_is_an_event(client, session) -> None:
    login = log_in(client, session, make_person(session))
    client.cookies.set(SESSION_COOKIE, sessions.sign(client.app.state.settings, login.id) + "x")

    client.get("/account", follow_redirects=False)

    [refused] = events(session, "cookie-refused")
    assert refused.outcome == "denied" and refused.client_address == "testclient"


def test_a_rate_limit_reached_is_an_event(client, session) -> None:
    for _ in range(11):
        failed_recovery(client)

    [limited] = events(session, "rate-limited")
    assert (limited.outcome, limited.resource_type) == ("denied", "recovery:address")


def test_a_request_refused_for_malformed_input_is_recorded(client, session) -> None:
    form_post(client, "/login/password", {"email": NUL, "password": "x"})

    [refused] = events(session, "input-refused")
    assert (refused.outcome, refused.route) == ("denied", "password_submit")


def test_audit_values_are_bounded_and_control_characters_neutralised(session) -> None:
    hostile = "id\x1b[31m\r\nforged,row\x00\x85" * 20

    audit.record(session, action="view", resource_id=hostile, resource_type=hostile)
    session.commit()

    [event] = events(session, "view")
    assert len(event.resource_id) <= 64 and len(event.resource_type) <= 40
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in event.resource_id + event.resource_type)
    assert "\\x1b" in event.resource_id


def test_the_csv_export_has_one_line_per_event(session) -> None:
    for _ in range(3):
        audit.record(session, action="view", resource_id="a\r\nb\x1bc")
    session.commit()

    out = io.StringIO()
    count = audit.export_csv(session, out)

    assert count == 3 and len(out.getvalue().splitlines()) == 1 + 3  # the header, then one per event
