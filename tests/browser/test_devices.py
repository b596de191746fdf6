"""The devices page in Chromium: a fresh passkey check (step-up) before passkeys can be added or removed."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect
from sqlalchemy import update
from sqlmodel import Session

from portal.models import LoginSession
from portal.models.base import utcnow
from portal.security import sessions
from tests.browser.passkey_helpers import (
    add_patient,
    add_virtual_authenticator,
    cli_activation_code,
    fill_activation,
    wait_for_first_landing,
)


def activate(live_server, context, page) -> str:
    add_virtual_authenticator(context, page)
    patient = add_patient(live_server)
    fill_activation(page, live_server, cli_activation_code(live_server, patient.fhir_id))
    wait_for_first_landing(page)
    cookie = next(c for c in context.cookies() if c["name"] == sessions.COOKIE)
    return sessions.unsign(live_server.settings, cookie["value"])


def test_step_up_with_the_passkey_unlocks_adding_and_removing(live_server, context, page) -> None:
    session_id = activate(live_server, context, page)
    with Session(live_server.engine) as session:
        session.exec(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(verified_at=utcnow() - timedelta(minutes=10))
        )
        session.commit()
    page.goto(live_server.url + "/account/passkeys")
    expect(page.get_by_role("button", name="Add a passkey")).to_have_count(0)

    page.get_by_role("button", name="Confirm with your passkey").click()

    expect(page.get_by_role("button", name="Add a passkey")).to_be_visible()
    expect(page.get_by_role("button", name="Remove")).to_be_visible()


def test_this_device_cannot_add_a_second_passkey_for_the_same_account(live_server, context, page) -> None:
    activate(live_server, context, page)
    page.goto(live_server.url + "/account/passkeys")

    page.get_by_role("button", name="Add a passkey").click()

    expect(page.get_by_role("alert")).to_contain_text("already has a passkey")


def test_without_javascript_the_pages_say_passkeys_need_it(live_server, browser) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()

    page.goto(live_server.url + "/activate")

    expect(page.locator(".noscript-note")).to_contain_text("Passkeys need JavaScript")
    expect(page.get_by_role("link", name="sign in with a password")).to_be_visible()
    context.close()
