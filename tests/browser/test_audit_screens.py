"""The audit screens in Chromium, with data in them: the reach checks, htmx page turns, the CSV download."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext
from sqlmodel import Session

from portal.provenance import Provenance
from portal.services import audit
from tests.browser.conftest import LiveServer
from tests.browser.reach_helpers import (
    CSS_KINDS,
    HTML_CSS_BUDGET,
    HTML_KINDS,
    Tab,
    add_patient,
    add_person,
    add_proxy_grant,
    sign_in_as,
    visit,
    years_ago,
)


@pytest.fixture
def family(live_server: LiveServer) -> dict[str, object]:
    """An adult patient whose record a nurse and a caregiver have looked at 60 times, and an admin."""
    with Session(live_server.engine, expire_on_commit=False) as db_session, db_session.begin():
        admin = add_person(db_session, "Alma Admin", staff_role="admin")
        nurse = add_person(db_session, "Nadia Nurse", staff_role="clinician")
        own = add_person(db_session, "Olga Owens")
        carer = add_person(db_session, "Cora Carer")
        patient = add_patient(db_session, "Olga", "Owens", years_ago(40), own)
        add_proxy_grant(db_session, carer, patient, relationship="caregiver")
        for number in range(60):
            who, role = (nurse, "clinician") if number % 2 else (carer, "proxy")
            audit.record(
                db_session,
                action="view",
                actor_person_id=who.id,
                actor_role=role,
                on_behalf_of_person_id=own.id if role == "proxy" else None,
                patient_id=patient.id,
                resource_type="Observation",
                resource_id=f"obs-{number}",
                provenance=Provenance(route="result_page", request_id=f"req{number:04d}"),
            )
    return {"admin": admin.id, "own": own.id, "patient": patient}


def problems_on(context: BrowserContext, server: LiveServer, path: str) -> list[str]:
    report, _links = visit(Tab(context), server, path)
    assert report is not None and report.status == 200, path
    problems = report.axe + report.keyboard + report.needs_js + report.overflow + report.furniture
    size = report.bytes_of(*HTML_KINDS, *CSS_KINDS)
    if size > HTML_CSS_BUDGET:
        problems.append(f"HTML and CSS take {size} bytes, over {HTML_CSS_BUDGET}")
    return problems


def test_a_full_page_of_events_passes_the_reach_checks(context, live_server, family) -> None:
    sign_in_as(live_server, context, family["admin"])

    problems = problems_on(context, live_server, "/admin/audit")

    assert problems == []


def test_who_viewed_the_record_passes_the_reach_checks_in_spanish(browser, live_server, family) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="es-US")
    try:
        sign_in_as(live_server, context, family["own"])

        problems = problems_on(context, live_server, f"/p/{family['patient'].public_id}/viewed")
    finally:
        context.close()

    assert problems == []


def search_for_views(page, live_server) -> None:
    """Search the log for "view" events, as an admin does: through the form, which posts."""
    page.goto(f"{live_server.url}/admin/audit")
    page.locator("select#action").select_option("view")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()


def test_turning_a_page_swaps_only_the_table_and_keeps_the_filters(
    context, page, live_server, family
) -> None:
    sign_in_as(live_server, context, family["admin"])
    search_for_views(page, live_server)
    page.evaluate("document.querySelector('h1').dataset.kept = 'yes'")  # gone if the whole page reloads
    first_request = page.locator("tbody tr").first.inner_text()

    page.get_by_role("button", name="Older events").click()
    page.get_by_role("button", name="Newer events").wait_for()

    assert page.url == f"{live_server.url}/admin/audit"  # the filters travel in the form, never the URL
    assert page.evaluate("document.querySelector('h1').dataset.kept") == "yes"
    assert page.locator("tbody tr").first.inner_text() != first_request
    assert page.locator("select#action").input_value() == "view"


def test_the_download_button_saves_a_csv_without_patient_data_in_its_name(
    context, page, live_server, family
) -> None:
    sign_in_as(live_server, context, family["admin"])
    search_for_views(page, live_server)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()

    download = download_info.value
    assert re.fullmatch(r"audit-log-\d{8}-\d{6}\.csv", download.suggested_filename)
    assert download.path().read_text(encoding="utf-8").startswith("id,seq,occurred_at,")
