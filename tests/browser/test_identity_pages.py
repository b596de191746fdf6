"""The identity pages in a real Chromium: no accessibility violations (axe-core), usable at 320 px wide."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.passkey_helpers import (
    BIRTH,
    add_patient,
    add_virtual_authenticator,
    cli_activation_code,
    cli_staff_link,
    fill_activation,
    wait_for_first_landing,
)

SIGNED_OUT = ["/login", "/activate", "/login/password", "/login/recovery"]
SIGNED_IN = [
    "/account",
    "/account/passkeys",
    "/account/sessions",
    "/account/recovery-codes",
    "/account/password",
]


@pytest.fixture(scope="module")
def axe() -> Axe:
    return Axe()


def check(page, axe: Axe, url: str) -> None:
    page.goto(url)
    results = axe.run(page)
    assert results.violations_count == 0, results.generate_report()
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), url


def test_signed_out_pages_pass_axe_at_320px(live_server, page, axe) -> None:
    page.set_viewport_size({"width": 320, "height": 640})

    for path in SIGNED_OUT:
        check(page, axe, live_server.url + path)


def test_signed_in_pages_pass_axe_at_320px(live_server, context, page, axe) -> None:
    add_virtual_authenticator(context, page)
    patient = add_patient(live_server)
    fill_activation(page, live_server, cli_activation_code(live_server, patient.fhir_id))
    wait_for_first_landing(page)
    page.set_viewport_size({"width": 320, "height": 640})

    for path in SIGNED_IN:
        check(page, axe, live_server.url + path)


def test_staff_enrol_with_a_passkey_and_issue_a_code_from_the_front_desk(
    live_server, context, page, axe
) -> None:
    add_virtual_authenticator(context, page)
    patient = add_patient(live_server, given="Katherine", family="Johnson")
    link = cli_staff_link(live_server, f"desk-{patient.fhir_id}@clinic.example", "front_desk")
    page.goto(link)
    page.get_by_role("button", name="Create your passkey").click()
    wait_for_first_landing(page)
    page.set_viewport_size({"width": 320, "height": 640})
    check(page, axe, live_server.url + "/front-desk")

    page.get_by_label("Family name").fill("John")
    page.get_by_label("Date of birth").fill(BIRTH.isoformat())
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name="Issue code for Katherine Johnson").click()

    expect(page.locator(".code")).to_have_text(re.compile(r"^[2-9A-HJ-NP-Z]{4}(-[2-9A-HJ-NP-Z]{4}){3}$"))
    results = axe.run(page)
    assert results.violations_count == 0, results.generate_report()
