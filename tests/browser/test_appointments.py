"""A parent books, reschedules and cancels a visit for a child in a real Chromium at 320 px: every page axe
clean and nothing wider than the screen; and the same with JavaScript turned off."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from sqlmodel import Session

from portal.services.scheduling.seed import seed_calendar
from tests.browser.reach_helpers import (
    add_patient,
    add_person,
    add_proxy_grant,
    axe_violations,
    narrow_overflow,
    sign_in_as,
    years_ago,
)

WIDTH = 320


def family(live_server) -> tuple[int, str]:
    settings = live_server.settings
    with Session(live_server.engine) as session, session.begin():
        seed_calendar(session, tz=settings.timezone, today=settings.today())
        parent = add_person(session, "Nora Booker")
        child = add_patient(session, "Milo", "Booker", years_ago(7))
        add_proxy_grant(session, parent, child)
        return parent.id, child.public_id  # type: ignore[return-value]


def checked(page: Page, javascript: bool) -> None:
    """The page as it stands: axe clean, and nothing wider than 320 px (axe runs in the page, so only when
    JavaScript is on; the walk without it checks that every step works as plain HTML)."""
    if not javascript:
        return
    problems = axe_violations(page) + narrow_overflow(page)
    assert problems == [], f"{page.url}:\n" + "\n".join(problems)


def beyond_the_notice(page: Page, number: int) -> Locator:
    """A time on the third day with open times, two days away at least: a visit within the cancel notice
    (24 hours) can no longer be changed online, so the earliest time would leave nothing to change."""
    return page.locator("fieldset.day").nth(2).locator("button[name=time]").nth(number)


def book_change_and_cancel(page: Page, base: str, chart: str, javascript: bool) -> None:
    page.goto(f"{base}/p/{chart}/appointments")
    checked(page, javascript)
    page.goto(f"{base}/p/{chart}/appointments/book")
    page.get_by_label("Sick visit").check()
    page.get_by_role("button", name="Show open times").click()
    checked(page, javascript)
    first = beyond_the_notice(page, 0).get_attribute("value")
    beyond_the_notice(page, 0).click()
    expect(page.get_by_text("Your visit is booked.")).to_be_visible()
    checked(page, javascript)

    page.get_by_role("link", name="Change the time").click()
    expect(page.get_by_role("heading", name="Choose a new time")).to_be_visible()
    checked(page, javascript)
    later = beyond_the_notice(page, 1)
    assert later.get_attribute("value") != first
    later.click()
    expect(page.get_by_text("Your visit is booked.")).to_be_visible()

    page.get_by_role("button", name="Cancel this visit").click()
    expect(page.get_by_role("heading", name="Cancel this visit?")).to_be_visible()
    checked(page, javascript)
    page.get_by_role("button", name="Yes, cancel the visit").click()
    expect(page.get_by_text("Cancelled").first).to_be_visible()
    checked(page, javascript)


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_a_parent_books_changes_and_cancels_for_a_child_at_320px(
    browser: Browser, live_server, javascript: bool
) -> None:
    parent_id, chart = family(live_server)
    context = browser.new_context(viewport={"width": WIDTH, "height": 720}, java_script_enabled=javascript)
    try:
        sign_in_as(live_server, context, parent_id)
        page = context.new_page()
        page.set_default_timeout(15_000)
        book_change_and_cancel(page, live_server.url, chart, javascript)
    finally:
        context.close()
