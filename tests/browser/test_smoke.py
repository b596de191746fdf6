"""The sign-in page in a real Chromium: it renders, runs htmx under the CSP, and logs no errors."""

from __future__ import annotations


def test_sign_in_page_renders_with_no_console_errors(live_server, page) -> None:
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.goto(live_server.url + "/login")
    page.wait_for_function("() => window.htmx !== undefined")

    assert page.get_by_role("heading", level=1).inner_text().startswith("Sign in")
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert errors == []
