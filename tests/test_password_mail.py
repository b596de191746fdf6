"""The fallback for a device without passkeys: password plus an emailed one-time code; the mail outbox."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import select

from portal.models import LoginSession, OutboxMail, PasswordLogin
from portal.services import mail
from portal.services.identity import passwords
from tests.conftest import SESSION_COOKIE, form_post, log_in, make_patient, make_person

PASSWORD = "river otter lantern 42"
EMAIL = "ada@example.org"


def with_password(client, session, **person_fields):
    person = make_person(session, display_name="Ada Lovelace", **person_fields)
    log_in(client, session, person, verified=True)
    response = form_post(client, "/account/password", {"email": EMAIL, "password": PASSWORD})
    assert "Your password is saved" in response.text
    client.cookies.delete(SESSION_COOKIE)
    return person


def mailed_code(session) -> str:
    body = session.exec(select(OutboxMail).order_by(OutboxMail.id.desc())).first().body
    session.commit()
    return re.search(r"code is (\d{4} \d{4})", body).group(1)


def test_password_is_stored_argon2id_hashed(client, session) -> None:
    with_password(client, session)

    stored = session.exec(select(PasswordLogin)).one()

    assert stored.password_hash.startswith("$argon2id$") and PASSWORD not in stored.password_hash


@pytest.mark.parametrize(
    ("password", "problem"),
    [("short pass", "at least 12"), ("password1234", "too common"), ("aaaaaaaaaaaaaa", "too common")],
)
def test_weak_passwords_are_refused(client, session, password, problem) -> None:
    log_in(client, session, make_person(session), verified=True)

    response = form_post(client, "/account/password", {"email": EMAIL, "password": password})

    assert response.status_code == 400 and problem in response.text
    assert session.exec(select(PasswordLogin)).all() == []


def test_setting_a_password_needs_a_fresh_passkey_check(client, session) -> None:
    log_in(client, session, make_person(session))

    response = form_post(client, "/account/password", {"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 400
    assert session.exec(select(PasswordLogin)).all() == []


def test_password_then_emailed_code_signs_in(client, session) -> None:
    with_password(client, session)

    step_one = form_post(client, "/login/password", {"email": EMAIL.upper(), "password": PASSWORD})
    code = mailed_code(session)
    step_two = form_post(client, "/login/code", {"code": code}, follow_redirects=False)

    assert step_one.template.name == "auth/mail_code.html"
    assert step_two.headers["location"] == "/account"
    assert "Ada Lovelace" in client.get("/account").text


def test_the_mail_carries_no_patient_data(client, session) -> None:
    person = with_password(client, session)
    make_patient(session, person_id=person.id, given_name="Ada", family_name="Lovelace")

    form_post(client, "/login/password", {"email": EMAIL, "password": PASSWORD})

    message = session.exec(select(OutboxMail).where(OutboxMail.subject.contains("sign-in code"))).one()
    assert "Ada" not in message.body and "Lovelace" not in message.body and "Ada" not in message.subject


def test_wrong_password_and_unknown_email_get_the_same_answer(client, session) -> None:
    with_password(client, session)

    wrong = form_post(client, "/login/password", {"email": EMAIL, "password": "not the password"})
    unknown = form_post(client, "/login/password", {"email": "nobody@example.org", "password": PASSWORD})

    assert wrong.status_code == unknown.status_code == 400
    assert "don&#39;t match" in wrong.text and "don&#39;t match" in unknown.text
    assert session.exec(select(OutboxMail).where(OutboxMail.subject.contains("sign-in code"))).all() == []


def test_password_alone_opens_no_session(client, session) -> None:
    with_password(client, session)

    form_post(client, "/login/password", {"email": EMAIL, "password": PASSWORD})

    assert client.get("/account", follow_redirects=False).status_code == 303


def test_wrong_emailed_code_is_refused(client, session) -> None:
    with_password(client, session)
    form_post(client, "/login/password", {"email": EMAIL, "password": PASSWORD})

    response = form_post(client, "/login/code", {"code": "0000 0000"})

    assert response.status_code == 400 and "didn&#39;t work" in response.text


def test_emailed_code_stops_after_five_wrong_tries(client, session) -> None:
    with_password(client, session)
    form_post(client, "/login/password", {"email": EMAIL, "password": PASSWORD})
    code = mailed_code(session)
    for _ in range(5):
        form_post(client, "/login/code", {"code": "0000 0000"})

    response = form_post(client, "/login/code", {"code": code})

    assert response.status_code in (400, 429)
    assert session.exec(select(LoginSession).where(LoginSession.method == "password")).all() == []


def test_too_many_wrong_passwords_for_one_account_are_refused(client, session) -> None:
    with_password(client, session)
    for _ in range(5):
        form_post(client, "/login/password", {"email": EMAIL, "password": "not the password"})

    response = form_post(client, "/login/password", {"email": EMAIL, "password": PASSWORD})

    assert response.status_code == 429 and "Too many tries" in response.text


def test_password_problems() -> None:
    assert passwords.password_problem("correct horse battery") is None
    assert passwords.password_problem("x" * 11) is not None
    assert passwords.password_problem("Password1234") is not None


# ---------------------------------------------------------------------------------------------- mail


class Inbox:
    def __init__(self) -> None:
        self.messages: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, smtp_session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = Inbox()
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", inbox
    controller.stop()


def test_worker_sends_the_outbox_over_smtp(app, settings, session, smtp_server) -> None:
    url, inbox = smtp_server
    mail.enqueue(session, to="ada@example.org", subject="Your sign-in code", body="Your code is 1234 5678")
    session.commit()

    sent = mail.send_pending(app.state.engine, settings.with_overrides(smtp_url=url))

    assert sent == 1
    assert inbox.messages[0][1] == ["ada@example.org"]
    assert b"Your code is 1234 5678" in inbox.messages[0][2]
    assert session.exec(select(OutboxMail)).one().sent_at is not None


def test_worker_command_sends_once_and_stops(settings, session, smtp_server) -> None:
    url, inbox = smtp_server
    mail.enqueue(session, to="ada@example.org", subject="Hello", body="You have a new message in your portal")
    session.commit()
    env = {
        "PATH": "/usr/bin:/bin",
        "DATABASE_URL": settings.database_url,
        "PORTAL_DATA_DIR": str(settings.data_dir),
        "SECRET_KEY": str(settings.secret_key),
        "SMTP_URL": url,
    }

    result = subprocess.run(
        [sys.executable, "-m", "portal", "worker", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert len(inbox.messages) == 1


def test_without_smtp_mail_goes_to_the_outbox_folder(app, settings, session, caplog) -> None:
    with caplog.at_level(logging.INFO, logger="portal.mail"):
        mail.enqueue(session, to="ada@example.org", subject="Hello", body="You have a new message")
        session.commit()
        mail.send_pending(app.state.engine, settings)

    files = list((settings.data_dir / "outbox").glob("*.eml"))
    assert len(files) == 1 and b"You have a new message" in files[0].read_bytes()
    assert any(r.getMessage().startswith("mail queued") for r in caplog.records)
    assert not any("ada@example.org" in r.getMessage() for r in caplog.records)


def test_a_failed_send_is_kept_for_a_retry(app, settings, session) -> None:
    mail.enqueue(session, to="ada@example.org", subject="Hello", body="Hi")
    session.commit()

    sent = mail.send_pending(app.state.engine, settings.with_overrides(smtp_url="smtp://127.0.0.1:9"))

    stored = session.exec(select(OutboxMail)).one()
    assert sent == 0 and stored.sent_at is None and stored.attempts == 1
