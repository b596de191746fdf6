"""A parent with three children in a real Chromium: enrol with a passkey, switch between the children in the
header, and see each child's banner; the teen signs in to their own record."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from playwright.sync_api import expect
from sqlmodel import Session

from portal.models import FhirResource, Observation, Patient
from portal.provenance import Provenance
from portal.services import access, proxies
from portal.services.access import AgeRules
from portal.services.identity import people
from tests.browser.passkey_helpers import (
    add_virtual_authenticator,
    cli_activation_code,
    fill_activation,
    wait_for_first_landing,
)


@pytest.fixture
def authenticator(context, page):
    return add_virtual_authenticator(context, page)


@dataclass
class Family:
    parent_link: str
    infant: Patient
    child: Patient
    teen: Patient


def years_ago(today: date, years: int, days: int = 40) -> date:
    return date(today.year - years, 1, 1) if years else date.fromordinal(today.toordinal() - days)


def make_family(live_server) -> Family:
    """A parent (with an enrolment link, as the front desk makes them) of an infant, a child and a teen."""
    settings = live_server.settings
    today = settings.today()
    surname = "Fam" + secrets.token_hex(3)  # the live server's database is shared by the session's tests
    kids = {
        "infant": Patient(
            fhir_id=f"fam-{surname}-i", given_name="Ivy", family_name=surname, birth_date=years_ago(today, 0)
        ),
        "child": Patient(
            fhir_id=f"fam-{surname}-c", given_name="Cal", family_name=surname, birth_date=years_ago(today, 8)
        ),
        "teen": Patient(
            fhir_id=f"fam-{surname}-t",
            given_name="Tess",
            family_name=surname,
            birth_date=date(today.year - 15, 1, 1),
        ),
    }
    with Session(live_server.engine, expire_on_commit=False) as session, session.begin():
        session.add_all(kids.values())
        session.flush()
        parent, link = people.add_person(
            session, settings, email=f"{surname}@example.test", display_name="Parent"
        )
        for kid in kids.values():
            access.act_as_operator(
                session,
                access.Operator(today, AgeRules(), datetime.now(UTC), Provenance(route="test")),
                kid,
                access.Look(access.Area.PROXIES, "proxy_grant", action="grant-proxy"),
                proxies.add_grant,
                proxy=parent,
                relationship="parent",
                starts_on=kid.birth_date,
                today=today,
                rules=AgeRules(),
            )
        add_result(session, kids["teen"], "Hemoglobin A1c", confidential=False)
        add_result(session, kids["teen"], PRIVATE_RESULT, confidential=True, code="21613-5")
    return Family(link, kids["infant"], kids["child"], kids["teen"])


PRIVATE_RESULT = "Chlamydia trachomatis rRNA"


def add_result(
    session: Session, patient: Patient, display: str, *, confidential: bool, code: str = "4548-4"
) -> None:
    """A released laboratory result; a confidential one is marked as the EHR marks it (meta.security R)."""
    taken = datetime.now(UTC) - timedelta(days=10)
    resource = FhirResource(
        resource_type="Observation",
        fhir_id=secrets.token_hex(8),
        patient_id=patient.id,
        content_hash=secrets.token_hex(8),
        resource_json="{}",
    )
    session.add(resource)
    session.flush()
    session.add(
        Observation(
            resource_id=resource.id,
            patient_id=patient.id,
            fhir_id=resource.fhir_id,
            status="final",
            code_system="http://loinc.org",
            code=code,  # the lab's own name is shown for a code the plain-words table does not know
            display=display,
            confidential=confidential,
            category="laboratory",
            effective_at=taken,
            issued=taken,
            value=5.4,
            unit="%",
        )
    )


def banner(page):
    return page.get_by_role("region", name="Whose record this is")


def open_section(page, name: str) -> None:
    """On a phone the record's sections are one menu: open it, then follow the section's link."""
    sections = page.get_by_role("navigation", name="Record sections")
    sections.get_by_text("Sections").click()
    sections.get_by_role("link", name=name).click()


def switch_to(page, patient: Patient) -> None:
    page.get_by_text("Switch record").click()
    page.get_by_role("link", name=re.compile(patient.display_name)).click()


def test_a_parent_switches_between_the_children_and_sees_each_banner(
    live_server, page, authenticator
) -> None:
    family = make_family(live_server)

    page.goto(family.parent_link)
    page.get_by_role("button", name="Create your passkey").click()
    wait_for_first_landing(page)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Records").click()
    page.get_by_role("link", name=re.compile(family.infant.display_name)).click()
    expect(banner(page)).to_contain_text(family.infant.display_name)
    switch_to(page, family.child)
    expect(banner(page)).to_contain_text(family.child.display_name)
    expect(banner(page)).to_contain_text("8 years old")
    switch_to(page, family.teen)

    expect(banner(page)).to_contain_text(family.teen.display_name)
    expect(banner(page)).to_contain_text("15 years old")
    expect(banner(page)).to_contain_text("private to this teen")
    assert f"/p/{family.teen.public_id}/" in page.url
    open_section(page, "Test results")
    expect(page.get_by_role("main")).to_contain_text("Hemoglobin A1c")
    expect(page.get_by_role("main")).not_to_contain_text(PRIVATE_RESULT)


def test_the_teen_signs_in_to_their_own_record(live_server, page, authenticator) -> None:
    family = make_family(live_server)
    code = cli_activation_code(live_server, family.teen.fhir_id)

    fill_activation(page, live_server, code, birth_date=family.teen.birth_date)
    wait_for_first_landing(page)
    page.get_by_role("navigation", name="Your account").get_by_role("link", name="Records").click()

    expect(banner(page)).to_contain_text("Your record")
    expect(banner(page)).to_contain_text(family.teen.display_name)
    expect(banner(page)).not_to_contain_text("private to this teen")
    open_section(page, "Test results")
    expect(page.get_by_role("main")).to_contain_text("Hemoglobin A1c")
    expect(page.get_by_role("main")).to_contain_text(PRIVATE_RESULT)


def test_the_teen_is_told_whom_to_ask_instead_of_being_offered_to_remove_a_parent(
    live_server, page, authenticator
) -> None:
    family = make_family(live_server)
    code = cli_activation_code(live_server, family.teen.fhir_id)
    fill_activation(page, live_server, code, birth_date=family.teen.birth_date)
    wait_for_first_landing(page)

    page.goto(f"{live_server.url}/p/{family.teen.public_id}/access")

    main = page.get_by_role("main")
    expect(main).to_contain_text("Parent")
    expect(main.get_by_role("button", name=re.compile("Remove access"))).to_have_count(0)
    expect(main).to_contain_text("Only the clinic can change a parent")
