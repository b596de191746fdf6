"""Refills in a real Chromium at 320 px: a parent asks for a child's refill and a teen for their own, without
JavaScript; a clinician approves one and denies the other; each sees the outcome. Every page axe-clean."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlmodel import Session

from portal.models import FhirResource, MedicationRequest, Patient
from portal.models.people import StaffRole
from tests.browser.reach_helpers import (
    add_patient,
    add_person,
    add_proxy_grant,
    axe_violations,
    sign_in_as,
    years_ago,
)

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NARROW = {"width": 320, "height": 720}


def add_medicine(db_session: Session, patient: Patient, display: str) -> None:
    fhir_id = f"med-{secrets.token_hex(5)}"
    resource = FhirResource(
        resource_type="MedicationRequest",
        fhir_id=fhir_id,
        patient_id=patient.id,
        content_hash="0" * 64,
        resource_json=json.dumps({"resourceType": "MedicationRequest", "id": fhir_id, "status": "active"}),
    )
    db_session.add(resource)
    db_session.flush()
    db_session.add(
        MedicationRequest(
            resource_id=resource.id,
            patient_id=patient.id,
            fhir_id=fhir_id,
            status="active",
            code_system=RXNORM,
            code="745679",
            display=display,
            authored_on=datetime(2025, 6, 1, tzinfo=UTC),
        )
    )


@pytest.fixture
def people(live_server):
    surname = "Rx" + secrets.token_hex(3)  # the live server's database is shared by the session's tests
    with Session(live_server.engine, expire_on_commit=False) as db_session, db_session.begin():
        parent = add_person(db_session, "Pat Parent")
        teen_person = add_person(db_session, "Tess Teen")
        clinician = add_person(db_session, "Dr Cora", staff_role=StaffRole.CLINICIAN)
        child = add_patient(db_session, "Cal", surname, years_ago(8))
        teen = add_patient(db_session, "Tess", surname, years_ago(15), person=teen_person)
        add_proxy_grant(db_session, parent, child)
        add_medicine(db_session, child, f"Albuterol inhaler {surname}")
        add_medicine(db_session, teen, f"Cetirizine {surname}")
    return {
        "parent": parent,
        "teen": teen_person,
        "clinician": clinician,
        "child_id": child.public_id,
        "teen_id": teen.public_id,
        "surname": surname,
    }


def as_person(
    browser: Browser, live_server, person_id: int, *, javascript: bool
) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=NARROW, java_script_enabled=javascript)
    sign_in_as(live_server, context, person_id)
    return context, context.new_page()


def fits(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def ask_for_refill(browser: Browser, live_server, person_id: int, patient_id: str) -> None:
    """Medications page -> the refill link -> the form -> sent, without JavaScript."""
    context, page = as_person(browser, live_server, person_id, javascript=False)
    try:
        page.goto(f"{live_server.url}/p/{patient_id}/medications")
        page.get_by_role("link", name="Request a refill").first.click()
        page.get_by_label("Riverside Pharmacy").check()
        page.get_by_label("How many days of medicine do you have left?").fill("4")
        page.get_by_role("button", name="Send the request").click()
        assert page.url.endswith(f"/p/{patient_id}/refills?sent=1")
        assert "Sent to the clinic" in page.content()
    finally:
        context.close()


def check_pages(browser: Browser, live_server, person_id: int, paths: list[str]) -> dict[str, list[str]]:
    """axe and the 320 px fit, with JavaScript (axe runs in the page)."""
    context, page = as_person(browser, live_server, person_id, javascript=True)
    problems: dict[str, list[str]] = {}
    try:
        for path in paths:
            response = page.goto(live_server.url + path)
            assert response is not None and response.status == 200, path
            found = axe_violations(page) + ([] if fits(page) else ["wider than 320 px"])
            if found:
                problems[path] = found
    finally:
        context.close()
    return problems


def decide(
    browser: Browser, live_server, clinician_id: int, medicine: str, choice: str, **fields: str
) -> None:
    context, page = as_person(browser, live_server, clinician_id, javascript=False)
    try:
        page.goto(f"{live_server.url}/clinic/refills")
        card = page.locator("li", has_text=medicine)
        card.get_by_label(choice, exact=True).check()
        for label, value in fields.items():
            card.get_by_label(label, exact=True).fill(value)
        card.get_by_role("button").click()
        assert "Decision recorded." in page.content()
    finally:
        context.close()


def test_a_parent_and_a_teen_ask_and_a_clinician_decides(browser, live_server, people) -> None:
    child, teen = people["child_id"], people["teen_id"]

    ask_for_refill(browser, live_server, people["parent"].id, child)
    ask_for_refill(browser, live_server, people["teen"].id, teen)
    queue_problems = check_pages(browser, live_server, people["clinician"].id, ["/clinic/refills"])
    decide(
        browser,
        live_server,
        people["clinician"].id,
        f"Albuterol inhaler {people['surname']}",  # the reach suite's families ask for Albuterol too
        "Approve",
        **{"Quantity (to approve)": "1", "Refills (to approve, 0 to 11)": "2"},
    )
    decide(
        browser,
        live_server,
        people["clinician"].id,
        f"Cetirizine {people['surname']}",
        "Deny",
        **{"Reason (to deny; the patient reads it)": "Please use the nasal spray."},
    )

    parent_pages = [f"/p/{child}/medications", f"/p/{child}/refills"]
    teen_pages = [f"/p/{teen}/medications", f"/p/{teen}/refills"]
    assert queue_problems == {}
    assert check_pages(browser, live_server, people["parent"].id, parent_pages) == {}
    assert check_pages(browser, live_server, people["teen"].id, teen_pages) == {}
    context, page = as_person(browser, live_server, people["parent"].id, javascript=False)
    page.goto(f"{live_server.url}/p/{child}/refills")
    assert "Approved. Not yet sent to the pharmacy." in page.content()
    context.close()
    context, page = as_person(browser, live_server, people["teen"].id, javascript=False)
    page.goto(f"{live_server.url}/p/{teen}/refills")
    assert "Not approved" in page.content() and "Please use the nasal spray." in page.content()
    context.close()
