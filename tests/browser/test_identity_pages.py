"""The identity pages in a real Chromium: no accessibility violations (axe-core), usable at 320 px wide."""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe

from tests.browser.passkey_helpers import (
    add_patient,
    add_virtual_authenticator,
    cli_activation_code,
    fill_activation,
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
    page.wait_for_url("**/account")
    page.set_viewport_size({"width": 320, "height": 640})

    for path in SIGNED_IN:
        check(page, axe, live_server.url + path)
