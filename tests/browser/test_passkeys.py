"""Activation, sign-out and passkey sign-in in a real Chromium with its virtual authenticator."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import Session, select

from portal.models import LoginSession, OneTimeCode
from portal.models.base import utcnow
from portal.security import sessions
from tests.browser.passkey_helpers import (
    BIRTH,
    add_patient,
    add_virtual_authenticator,
    cli_activation_code,
    fill_activation,
    wait_for_first_landing,
)
from tests.webauthn_authenticator import SoftAuthenticator

REFUSAL = re.compile("match a code we can use")


@pytest.fixture
def authenticator(context, page):
    return add_virtual_authenticator(context, page)


def live_session_count(live_server) -> int:
    with Session(live_server.engine) as session:
        return len(session.exec(select(LoginSession).where(LoginSession.revoked_at.is_(None))).all())


def activate_in_browser(live_server, page) -> str:
    patient = add_patient(live_server)
    code = cli_activation_code(live_server, patient.fhir_id)
    fill_activation(page, live_server, code)
    wait_for_first_landing(page)
    return code


def presence(authenticator, enabled: bool) -> None:
    """Whether the virtual authenticator approves requests by itself (off: it waits, like a person)."""
    cdp, authenticator_id = authenticator
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation", {"authenticatorId": authenticator_id, "enabled": enabled}
    )


def without_autofill(page) -> None:
    """Make the page's browser one without conditional mediation (autofill), as older browsers are.

    The virtual authenticator answers an autofill request at once, which a person never does: the
    sign-in page would sign straight back in and the button could not be tested."""
    page.add_init_script("PublicKeyCredential.isConditionalMediationAvailable = async () => false;")


def sign_out(page) -> None:
    page.get_by_role("navigation", name="Your account").get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def test_activate_sign_out_and_sign_in_again_with_the_passkey(live_server, page, authenticator) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    without_autofill(page)
    patient = add_patient(live_server, given="Rosalind", family="Franklin")
    code = cli_activation_code(live_server, patient.fhir_id)

    fill_activation(page, live_server, code)
    wait_for_first_landing(page)
    expect(page.get_by_role("navigation", name="Your account")).to_contain_text("Rosalind Franklin")
    sign_out(page)
    assert not any(c["name"] == sessions.COOKIE for c in page.context.cookies())
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.wait_for_url("**/account")

    expect(page.get_by_role("navigation", name="Your account")).to_contain_text("Rosalind Franklin")
    assert errors == []


def test_sign_in_page_offers_the_passkey_in_autofill(live_server, page, authenticator) -> None:
    activate_in_browser(live_server, page)
    presence(authenticator, False)
    sign_out(page)
    page.goto("about:blank")
    presence(authenticator, True)

    page.goto(live_server.url + "/login")  # autofill (conditional mediation) starts on load

    page.wait_for_url("**/account")
    expect(page.get_by_role("heading", level=1)).to_have_text("Rosalind Franklin")


def test_wrong_code_is_refused_with_a_clear_message(live_server, page, authenticator) -> None:
    add_patient(live_server)
    before = live_session_count(live_server)

    fill_activation(page, live_server, "ABCD-EFGH-JKLM-NPQR")

    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    assert live_session_count(live_server) == before


def test_wrong_date_of_birth_is_refused(live_server, page, authenticator) -> None:
    patient = add_patient(live_server)
    code = cli_activation_code(live_server, patient.fhir_id)
    before = live_session_count(live_server)

    fill_activation(page, live_server, code, BIRTH + timedelta(days=365))

    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    assert live_session_count(live_server) == before


def test_reused_code_is_refused(live_server, page, authenticator, context) -> None:
    without_autofill(page)
    code = activate_in_browser(live_server, page)
    sign_out(page)
    before = live_session_count(live_server)

    fill_activation(page, live_server, code)

    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    assert live_session_count(live_server) == before


def test_expired_code_is_refused(live_server, page, authenticator) -> None:
    patient = add_patient(live_server)
    code = cli_activation_code(live_server, patient.fhir_id)
    with Session(live_server.engine) as session:
        session.exec(
            update(OneTimeCode)
            .where(OneTimeCode.patient_id == patient.id)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
        session.commit()
    before = live_session_count(live_server)

    fill_activation(page, live_server, code)

    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    assert live_session_count(live_server) == before


def test_sixth_try_is_refused_even_with_the_right_date_of_birth(live_server, page, authenticator) -> None:
    patient = add_patient(live_server)
    code = cli_activation_code(live_server, patient.fhir_id)
    for years in range(1, 6):
        fill_activation(page, live_server, code, BIRTH.replace(year=BIRTH.year - years))
        expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    before = live_session_count(live_server)

    fill_activation(page, live_server, code)

    expect(page.get_by_role("alert")).to_contain_text(REFUSAL)
    assert live_session_count(live_server) == before


def test_tampered_cookie_is_refused(live_server, page, authenticator, context) -> None:
    activate_in_browser(live_server, page)
    cookie = next(c for c in context.cookies() if c["name"] == sessions.COOKIE)
    presence(authenticator, False)  # so the sign-in page's autofill cannot sign in again by itself

    context.add_cookies([{**cookie, "value": cookie["value"][:-2] + "xx"}])
    page.goto(live_server.url + "/account")

    page.wait_for_url(re.compile(r"/login\?next=/account&ended=1$"))
    expect(page.locator("#alerts")).to_contain_text("You were signed out")
    assert not any(c["name"] == sessions.COOKIE for c in context.cookies())


def test_expired_session_is_refused(live_server, page, authenticator, context) -> None:
    activate_in_browser(live_server, page)
    cookie = next(c for c in context.cookies() if c["name"] == sessions.COOKIE)
    session_id = sessions.unsign(live_server.settings, cookie["value"])
    with Session(live_server.engine) as session:
        session.exec(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(last_seen_at=utcnow() - timedelta(minutes=16))
        )
        session.commit()
    presence(authenticator, False)

    page.goto(live_server.url + "/account")

    page.wait_for_url(re.compile(r"/login\?next=/account&ended=1$"))
    expect(page.locator("#alerts")).to_contain_text("You were signed out")
    with Session(live_server.engine) as session:
        assert session.get(LoginSession, session_id).revoked_reason == "idle"


def test_assertion_for_another_origin_is_refused(live_server, page, authenticator, context) -> None:
    without_autofill(page)
    activate_in_browser(live_server, page)
    sign_out(page)
    cdp, authenticator_id = authenticator
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator_id})["credentials"][0]
    forger = SoftAuthenticator.from_virtual(stored)
    before = live_session_count(live_server)
    token = page.locator("form[data-passkey]").get_attribute("data-csrf")
    headers = {"X-CSRF-Token": token, "Origin": live_server.url}
    options = page.request.post(live_server.url + "/login/options", headers=headers, data={}).json()

    credential = forger.get(options, origin="https://evil.example")
    response = page.request.post(
        live_server.url + "/login/finish", headers=headers, data={"credential": credential}
    )

    assert response.status == 400
    assert "couldn't check that passkey" in response.json()["error"]
    assert live_session_count(live_server) == before
