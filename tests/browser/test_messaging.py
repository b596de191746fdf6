"""Messaging in a real Chromium at 320 px: a parent of three writes about the middle child, the clinician
answers, and the parent sees the answer and the read receipt; axe-clean, with and without JavaScript."""

from __future__ import annotations

import secrets

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlmodel import Session

from tests.browser.reach_helpers import (
    add_patient,
    add_person,
    add_proxy_grant,
    axe_violations,
    sign_in_as,
    years_ago,
)

NARROW = {"width": 320, "height": 720}


def make_family(live_server) -> dict[str, object]:
    surname = "Msg" + secrets.token_hex(3)  # the live server's database is shared by the session's tests
    with Session(live_server.engine, expire_on_commit=False) as session, session.begin():
        parent = add_person(session, f"Maria {surname}")
        clinician = add_person(session, "Dr Chen", staff_role="clinician")
        kids = {
            name: add_patient(session, given, surname, years_ago(age))
            for name, given, age in (("oldest", "Tess", 15), ("middle", "Cal", 8), ("youngest", "Ivy", 3))
        }
        for kid in kids.values():
            add_proxy_grant(session, parent, kid)
    return {"parent": parent, "clinician": clinician, **kids, "surname": surname}


def checked(page: Page, javascript: bool) -> bool:
    """axe-clean and no sideways scrolling at 320 px. Both run script in the page, so they are checked in
    the run with JavaScript; the same HTML is served to both runs."""
    if not javascript:
        return True
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    return axe_violations(page) == [] and fits


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_a_parent_writes_about_the_middle_child_and_sees_the_reply_and_receipt(
    live_server, browser: Browser, javascript: bool
) -> None:
    family = make_family(live_server)
    middle = family["middle"]
    name = f"Cal {family['surname']}"
    parent: BrowserContext = browser.new_context(viewport=NARROW, java_script_enabled=javascript)
    staff: BrowserContext = browser.new_context(
        viewport={"width": 1024, "height": 800}, java_script_enabled=javascript
    )
    try:
        sign_in_as(live_server, parent, family["parent"].id)
        sign_in_as(live_server, staff, family["clinician"].id)
        page = parent.new_page()
        page.goto(f"{live_server.url}/p/{middle.public_id}/messages/new")
        assert page.title().startswith(f"New message about {name} · ")
        assert checked(page, javascript)
        page.get_by_label("A medical question").check()
        page.get_by_label("Subject").fill("Cough at night")
        page.get_by_label("Your message").fill("Cal coughs at night. <script>alert(1)</script>")
        page.get_by_role("button", name=f"Send message about {name}").click()
        expect(page.get_by_role("heading", name="Cough at night")).to_be_visible()
        expect(page.get_by_text("<script>alert(1)</script>", exact=False)).to_be_visible()
        thread_url = page.url.split("#")[0]
        assert f"/p/{middle.public_id}/messages/" in thread_url

        desk = staff.new_page()
        desk.goto(f"{live_server.url}/staff/inbox")
        desk.get_by_role("row").filter(has_text=name).get_by_role("link", name="Cough at night").click()
        desk.get_by_label("Your reply").fill("Please bring Cal in tomorrow at 9.")
        desk.get_by_role("button", name=f"Send reply to {name}").click()
        expect(desk.get_by_text("Please bring Cal in tomorrow at 9.")).to_be_visible()

        page.goto(thread_url)
        expect(page.get_by_text("Please bring Cal in tomorrow at 9.")).to_be_visible()
        expect(page.get_by_text("Read by your care team at", exact=False)).to_be_visible()
        expect(page.locator(".record-banner")).to_contain_text(name)
        assert checked(page, javascript)
        desk.reload()
        expect(
            desk.get_by_text(f"Read by Maria {family['surname']} (parent) at", exact=False)
        ).to_be_visible()
    finally:
        parent.close()
        staff.close()
