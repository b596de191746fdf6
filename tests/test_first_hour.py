"""The first hour: each role lands on its own tools, the chart's section links fetch only <main>, pagers
swap their list, the day's print uses the date typed, and the record pages speak plain words."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import select

from portal.fhir import importer
from portal.models import AuditEvent, Patient, Person, ProxyGrant
from portal.models.people import StaffRole
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.fhir_bundles import SAMPLE_BUNDLE

BOOSTED_SECTION = {
    "HX-Request": "true",
    "HX-Boosted": "true",
    "HX-Target": "main#main",
    "HX-Request-Type": "partial",
}


@pytest.fixture
def infant(app, session):
    importer.import_paths(app.state.engine, [SAMPLE_BUNDLE])
    patient = session.scalars(sa_select(Patient).where(Patient.family_name == "Sample")).one()
    parent = Person(display_name="Pat Parent")
    session.add(parent)
    session.flush()
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id,
            patient_id=patient.id,
            relationship="parent",
            starts_on=date(2000, 1, 1),
        )
    )
    session.commit()
    return {"patient": patient, "parent": parent}


def staff(session, role: StaffRole) -> Person:
    return make_person(session, display_name=f"Staff {role.value}", staff_role=role.value)


# --- landing -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "links", "absent"),
    [
        (
            StaffRole.FRONT_DESK,
            [
                "/front-desk",
                "/front-desk/patients",
                "/staff/print",
                "/staff/schedule",
                "/front-desk/registration",
            ],
            ["/admin/audit", "/clinic/refills", "/billing/accounts"],
        ),
        (
            StaffRole.CLINICIAN,
            ["/staff/charts", "/clinic/result-holds", "/staff/print", "/staff/inbox", "/clinic/refills"],
            ["/front-desk", "/billing/accounts"],
        ),
        (StaffRole.BILLING, ["/billing/accounts", "/staff/inbox"], ["/staff/charts", "/front-desk"]),
        (
            StaffRole.ADMIN,
            ["/admin/audit", "/front-desk", "/admin/care-teams"],
            ["/staff/charts", "/staff/print"],
        ),
    ],
)
def test_each_staff_role_lands_on_its_own_tools(client, session, role, links, absent) -> None:
    log_in(client, session, staff(session, role))

    page = client.get("/")

    assert page.url.path == "/staff"
    for link in links:
        assert f'href="{link}"' in page.text
    for link in absent:
        assert f'href="{link}"' not in page.text


def test_a_parent_lands_on_the_family_with_a_prompt_to_save_recovery_codes(client, session, infant) -> None:
    second = make_patient(session, given_name="Bea", family_name="Sample", birth_date=date(2020, 1, 2))
    session.add(
        ProxyGrant(
            proxy_person_id=infant["parent"].id,
            patient_id=second.id,
            relationship="parent",
            starts_on=date(2000, 1, 1),
        )
    )
    session.commit()
    log_in(client, session, infant["parent"])

    page = client.get("/?welcome=1")

    assert page.url.path == "/records"
    assert "Your family" in page.text and "/account/recovery-codes" in page.text
    assert "Bea Sample" in page.text


def test_a_patient_lands_on_their_summary(client, session) -> None:
    person = make_person(session, display_name="Ada Lovelace")
    make_patient(session, person_id=person.id)
    log_in(client, session, person)

    page = client.get("/?welcome=1")

    assert page.url.path.endswith("/summary")
    assert "/account/recovery-codes" in page.text


def test_a_clinician_finds_a_patient_and_opens_the_chart_audited(client, session, infant) -> None:
    clinician = staff(session, StaffRole.CLINICIAN)
    log_in(client, session, clinician)

    found = form_post(client, "/staff/charts", {"family": "Sam", "birth_date": "", "patient": ""})
    listed = form_post(
        client,
        "/staff/charts",
        {"family": "Sample", "birth_date": infant["patient"].birth_date.isoformat(), "patient": ""},
    )
    chart = client.get(f"/p/{infant['patient'].public_id}/summary")

    assert found.status_code == 400 and "date of birth" in found.text
    assert f"/p/{infant['patient'].public_id}/summary" in listed.text
    assert chart.status_code == 200
    seen = session.exec(select(AuditEvent).where(AuditEvent.actor_person_id == clinician.id)).all()
    assert {e.resource_type for e in seen} >= {"Patient", "Summary"}


def test_the_chart_search_is_closed_to_the_front_desk(client, session) -> None:
    log_in(client, session, staff(session, StaffRole.FRONT_DESK))

    assert client.get("/staff/charts").status_code == 403


# --- htmx ------------------------------------------------------------------------------------------------


def test_a_boosted_section_link_gets_only_main_and_the_navigation(client, session, infant) -> None:
    log_in(client, session, infant["parent"])
    url = f"/p/{infant['patient'].public_id}/medications"

    full = client.get(url)
    main_only = client.get(url, headers=BOOSTED_SECTION)

    assert "<html" in full.text and "record-banner" in full.text
    assert "<html" not in main_only.text and "record-banner" not in main_only.text
    assert '<main id="main"' in main_only.text and "<title>" in main_only.text
    assert 'hx-swap-oob="true"' in main_only.text and 'aria-current="page">Medications' in main_only.text
    assert len(main_only.content) < len(full.content) * 0.7


def test_a_boosted_link_for_the_whole_body_still_gets_the_full_page(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(
        f"/p/{infant['patient'].public_id}/visits",
        headers={"HX-Request": "true", "HX-Boosted": "true", "HX-Request-Type": "full"},
    )

    assert "<html" in page.text


@pytest.mark.parametrize("section", ["results", "visits", "documents"])
def test_a_list_page_includes_its_rows_and_a_pager_swaps_them(client, session, infant, section) -> None:
    log_in(client, session, infant["parent"])
    url = f"/p/{infant['patient'].public_id}/{section}"

    page = client.get(url)
    rows = client.get(url, headers={"HX-Request": "true", "HX-Target": f"div#{section}-rows"})

    assert page.template.name == f"records/{section}.html" and f'id="{section}-rows"' in page.text
    assert rows.template.name == f"records/_{section}_rows.html" and "<html" not in rows.text


# --- plain words on the pages ---------------------------------------------------------------------------


def test_the_banner_says_an_infants_age_in_months_or_weeks(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/summary").text

    assert "0 years old" not in page
    assert " months old" in page or " weeks old" in page or " month old" in page


def test_visit_types_lose_their_snomed_tags_on_the_visits_page(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/visits").text

    assert "(procedure)" not in page and "(finding)" not in page


# --- printing -------------------------------------------------------------------------------------------


def test_the_days_print_form_has_one_date_field_the_print_button_sends(client, session) -> None:
    log_in(client, session, staff(session, StaffRole.FRONT_DESK))

    page = client.get("/staff/print?date=2026-01-05").text
    form = page[page.index('action="/staff/print/day"') :]
    form = form[: form.index("</form>")]

    assert form.count('name="date"') == 1 and 'type="hidden" name="date"' not in form
    assert 'type="date"' in form


def test_show_providers_lists_the_typed_day_without_printing(client, session) -> None:
    log_in(client, session, staff(session, StaffRole.FRONT_DESK))

    response = form_post(client, "/staff/print/day", {"date": "2026-01-05", "show": "providers"})

    assert response.status_code == 200 and "text/html" in response.headers["content-type"]
    assert 'value="2026-01-05"' in response.text
