"""A parent checks in a child in a real Chromium at 320 px: without JavaScript, stopping after step 2 and
finishing in another browser context, then every step page checked with axe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from portal.models import CheckIn, Encounter, FhirResource
from tests.browser.reach_helpers import (
    add_patient,
    add_person,
    add_proxy_grant,
    axe_violations,
    narrow_overflow,
    sign_in_as,
    years_ago,
)

pytestmark = pytest.mark.browser
NARROW = {"width": 320, "height": 640}


@pytest.fixture
def family(live_server):
    with Session(live_server.engine) as db_session, db_session.begin():
        parent = add_person(db_session, "Paula Checkin")
        child = add_patient(db_session, "Nico", "Checkin", years_ago(2))
        add_proxy_grant(db_session, parent, child)
        resource = FhirResource(
            resource_type="Encounter",
            fhir_id=f"enc-{child.fhir_id}"[:64],
            patient_id=child.id,
            content_hash="0" * 64,
            resource_json="{}",
        )
        db_session.add(resource)
        db_session.flush()
        db_session.add(
            Encounter(
                resource_id=resource.id,
                patient_id=child.id,
                fhir_id=resource.fhir_id,
                display="Well child visit",
                status="planned",
                start_at=datetime.now(UTC) + timedelta(days=2),
            )
        )
        return parent.id, child.id, child.public_id


def test_a_parent_checks_in_a_child_without_javascript_across_two_browsers(
    browser, live_server, family
) -> None:
    parent_id, child_id, public_id = family
    base = f"{live_server.url}/p/{public_id}/checkin"
    first = browser.new_context(viewport=NARROW, java_script_enabled=False)
    sign_in_as(live_server, first, parent_id)
    page = first.new_page()
    page.goto(f"{base}/details")
    assert "Step 1 of 5" in page.content()
    page.fill("#f-phone", "555-0142")
    page.click("text=Save and continue")
    assert page.url.endswith("/checkin/insurance") and "Step 2 of 5" in page.content()
    page.check("input[name=no_insurance]")
    page.click("form[action$='/insurance'] >> text=Save and continue")
    first.close()  # stops after step 2

    second = browser.new_context(viewport=NARROW, java_script_enabled=False)
    sign_in_as(live_server, second, parent_id)
    page = second.new_page()
    page.goto(base)
    assert page.content().count("Done") == 2
    page.goto(f"{base}/details")
    assert page.input_value("#f-phone") == "555-0142"
    page.goto(f"{base}/review")
    page.click("text=Save and continue")
    for radio in page.locator("input[type=radio][value=yes]").all():
        radio.check()
    page.locator("input[type=radio][value=good]").check()
    page.locator("input[name$=':general.hospital'][value=no]").check()  # yes would ask when
    page.click("text=Save and continue")
    assert page.url.endswith("/checkin/consents"), page.content()
    for name_field in page.locator("input[name^='name:']").all():
        name_field.fill("Paula Checkin")
    for box in page.locator("input[name^='agree:']").all():
        box.check()
    page.click("text=Sign and continue")
    page.click("text=Send to the clinic")
    assert "was sent to the clinic" in page.content()
    second.close()

    with Session(live_server.engine) as db_session:
        checkin = db_session.exec(select(CheckIn).where(CheckIn.patient_id == child_id)).one()
        assert checkin.status == "submitted"


def test_check_in_pages_are_axe_clean_at_320_px(browser, live_server, family) -> None:
    parent_id, _, public_id = family
    context = browser.new_context(viewport=NARROW)
    sign_in_as(live_server, context, parent_id)
    page = context.new_page()
    problems = {}
    for step in ("", "/details", "/insurance", "/review", "/forms", "/consents"):
        page.goto(f"{live_server.url}/p/{public_id}/checkin{step}")
        found = axe_violations(page) + narrow_overflow(page)
        if found:
            problems[step or "/"] = found
    context.close()

    assert problems == {}
