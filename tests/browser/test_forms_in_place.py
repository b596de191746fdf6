"""Form mistakes shown in place, in a real Chromium with JavaScript: the message replaces the form's
<main>, what was typed stays, the address does not change; a corrected form then goes on as without
JavaScript. A booking's time button (the form's submitter) travels with the in-place post."""

from __future__ import annotations

import pytest
from sqlmodel import Session

from portal.services.scheduling.seed import seed_calendar
from tests.browser.reach_helpers import add_patient, add_person, add_proxy_grant, sign_in_as, years_ago

pytestmark = pytest.mark.browser


@pytest.fixture
def parent_page(browser, live_server):
    with Session(live_server.engine) as db_session, db_session.begin():
        settings = live_server.settings
        seed_calendar(db_session, tz=settings.timezone, today=settings.today())
        parent = add_person(db_session, "Inés Placer")
        child = add_patient(db_session, "Tomas", "Placer", years_ago(7))
        add_proxy_grant(db_session, parent, child)
        parent_id, child_id = parent.id, child.public_id
    context = browser.new_context(viewport={"width": 320, "height": 640})
    sign_in_as(live_server, context, parent_id)
    page = context.new_page()
    page.goto(live_server.url + "/")  # htmx loaded once; the forms below are posted by it
    yield page, f"{live_server.url}/p/{child_id}"
    context.close()


def test_a_message_without_a_subject_is_answered_in_place_then_sent(parent_page) -> None:
    page, chart = parent_page
    page.goto(f"{chart}/messages/new")
    page.check("input[name=topic] >> nth=0")
    page.fill("#subject", "   ")
    page.fill("#body", "Tomas has had a cough since Monday.")
    page.evaluate("() => { window.notReloaded = true; }")

    page.click("form[action$='/messages'] button")
    page.locator("#subject-error").wait_for()

    assert page.evaluate("() => window.notReloaded") is True  # swapped, not a new page
    assert page.url == f"{chart}/messages/new"
    assert page.input_value("#body") == "Tomas has had a cough since Monday."
    assert page.locator("main").count() == 1 and page.locator("header.site-header").count() == 1

    page.fill("#subject", "Cough")
    page.click("form[action$='/messages'] button")
    page.wait_for_url(lambda url: "/messages/" in url and not url.endswith("/messages/new"))

    assert "Cough" in page.locator("main h1").inner_text()
    assert page.locator("#subject-error").count() == 0


def test_a_time_button_books_that_time_through_the_in_place_form(parent_page) -> None:
    page, chart = parent_page
    page.goto(f"{chart}/appointments/book?type=sick")
    page.fill("#reason", "Earache")
    chosen = page.locator("button[name=time]").first
    chosen_time = chosen.inner_text().split("\n")[0]

    chosen.click()
    page.wait_for_url(lambda url: "/appointments/" in url and "/book" not in url)

    assert chosen_time in page.locator("main").inner_text() and "Earache" in page.locator("main").inner_text()
