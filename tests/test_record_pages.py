"""The record pages under /p/{patient}/..., through HTTP, on the sample infant and generated patients."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta

import pytest
from sqlalchemy import select as sa_select
from sqlmodel import select

from portal.fhir import importer
from portal.models import AuditEvent, Patient, Person, ProxyGrant
from portal.models.base import utcnow
from portal.models.records import ClinicalDocument, DiagnosticReport, Encounter, Observation
from portal.services import results
from tests.conftest import form_post, log_in
from tests.fhir_bundles import SAMPLE_BUNDLE, patient_resources, write_bundle

PAGES = ["summary", "results", "medications", "allergies", "problems", "immunizations", "visits", "documents"]


def rows(session, query):
    found = list(session.scalars(query))
    session.expunge_all()  # detached, their loaded attributes can be read without a new transaction
    session.rollback()  # end the read: SQLite's BEGIN IMMEDIATE would keep the write lock
    return found


@pytest.fixture
def infant(app, session):
    importer.import_paths(app.state.engine, [SAMPLE_BUNDLE])
    patient = rows(session, sa_select(Patient).where(Patient.family_name == "Sample"))[0]
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


@pytest.fixture
def stranger(app, session, tmp_path):
    resources = patient_resources(random.Random(7), visits=2)
    importer.import_paths(app.state.engine, [write_bundle(tmp_path / "other.json", resources)])
    fhir_id = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return rows(session, sa_select(Patient).where(Patient.fhir_id == fhir_id))[0]


def make_teen_of_infant_record(session, infant):
    """The sample record, moved to a 14-year-old, so the parent's view is the limited one."""
    patient = session.get(Patient, infant["patient"].id)
    patient.birth_date = date.today() - timedelta(days=14 * 366)
    session.add(patient)
    session.commit()


def clinician(session):
    person = Person(display_name="Dr Clin", staff_role="clinician")
    session.add(person)
    session.commit()
    return person


def of(session, model, patient):
    return rows(session, sa_select(model).where(model.patient_id == patient.id).order_by(model.id))


def audit_events(session):
    session.expire_all()
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.commit()
    return events


# --- each page's content ----------------------------------------------------------------------


@pytest.mark.parametrize("section", PAGES + ["growth"])
def test_every_record_page_opens_for_the_parent(client, session, infant, section) -> None:
    log_in(client, session, infant["parent"])

    response = client.get(f"/p/{infant['patient'].public_id}/{section}")

    assert response.status_code == 200
    assert 'aria-current="page"' in response.text
    assert "Mia Rose Sample" not in response.text or "Record of" in response.text


def test_the_summary_lists_issues_medications_allergies_and_recent_results(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/summary").text

    for heading in (
        "Health issues",
        "Current medications",
        "Allergies",
        "Recent test results",
        "Upcoming visits",
    ):
        assert heading in page
    assert "Download my record" in page
    assert "Bilirubin" in page or "bilirubin" in page


def test_results_show_value_range_and_a_flag_in_words(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/results").text

    assert "Newborn bilirubin" in page
    assert "Normal range:" in page
    assert any(
        word in page
        for word in ('class="flag-high">High<', 'class="flag-normal">In range<', 'class="flag-low">Low<')
    )


def test_a_results_history_page_draws_a_chart_and_a_table(client, session, infant) -> None:
    head = [o for o in of(session, Observation, infant["patient"]) if o.code == "9843-4"][-1]
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/results/{head.public_id}").text

    assert "<svg" in page and "<polyline" in page and "<table>" in page
    assert page.count("<tr>") == 1 + 4  # the header and four head measurements
    assert "style=" not in page


def test_a_report_page_lists_its_results(client, session, infant) -> None:
    report = next(r for r in of(session, DiagnosticReport, infant["patient"]) if not r.confidential)
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/reports/{report.public_id}").text

    assert "Newborn bilirubin" in page and "Normal range:" in page


def test_a_visit_shows_its_notes_diagnoses_and_measurements(client, session, infant) -> None:
    visit = of(session, Encounter, infant["patient"])[0]
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/visits/{visit.public_id}").text

    assert "Measurements" in page and "Notes" in page
    assert 'class="ehr-text"' in page and "hx-ignore" in page


def test_a_note_is_shown_as_escaped_text(client, session, infant) -> None:
    note = of(session, ClinicalDocument, infant["patient"])[0]
    note = session.get(ClinicalDocument, note.id)
    note.text = '<img src=x onerror=alert(1)> <b hx-get="/logout">hi</b>'
    session.add(note)
    session.commit()
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/documents/{note.public_id}").text

    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    assert "<b hx-get" not in page


def test_medications_are_split_into_current_and_past(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/medications").text

    assert "Current" in page and "Past" in page


def test_problems_medications_and_tests_link_to_medlineplus_by_code(client, session, infant) -> None:
    bilirubin = next(o for o in of(session, Observation, infant["patient"]) if o.code == "1975-2")
    log_in(client, session, infant["parent"])
    base = f"/p/{infant['patient'].public_id}"

    problems = client.get(f"{base}/problems").text
    medications = client.get(f"{base}/medications").text
    test = client.get(f"{base}/results/{bilirubin.public_id}").text

    assert "connect.medlineplus.gov" in problems and "v.cs=2.16.840.1.113883.6.96&amp;" in problems  # SNOMED
    assert "v.cs=2.16.840.1.113883.6.88&amp;" in medications  # RxNorm
    assert "v.cs=2.16.840.1.113883.6.1&amp;mainSearchCriteria.v.c=1975-2" in test  # LOINC
    assert 'rel="noopener noreferrer external"' in test


# --- other patients, confidentiality, release ---------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "model"),
    [
        ("results", Observation),
        ("reports", DiagnosticReport),
        ("visits", Encounter),
        ("documents", ClinicalDocument),
    ],
)
def test_another_patients_item_answers_404(client, session, infant, stranger, kind, model) -> None:
    theirs = of(session, model, stranger)[0]
    log_in(client, session, infant["parent"])

    response = client.get(f"/p/{infant['patient'].public_id}/{kind}/{theirs.public_id}")

    assert response.status_code == 404


@pytest.mark.parametrize("section", PAGES)
def test_each_page_view_writes_one_audit_event(client, session, infant, section) -> None:
    log_in(client, session, infant["parent"])
    before = len(audit_events(session))

    client.get(f"/p/{infant['patient'].public_id}/{section}")

    new = audit_events(session)[before:]
    assert [(e.route, e.action, e.patient_id, e.outcome) for e in new] == [
        (f"{section}_page", "view", infant["patient"].id, "allowed")
    ]


def test_a_detail_view_is_audited_with_its_resource(client, session, infant) -> None:
    visit = of(session, Encounter, infant["patient"])[0]
    log_in(client, session, infant["parent"])
    before = len(audit_events(session))

    client.get(f"/p/{infant['patient'].public_id}/visits/{visit.public_id}")

    (event,) = audit_events(session)[before:]
    assert (event.route, event.resource_type, event.resource_id) == (
        "visit_page",
        "Encounter",
        visit.public_id,
    )


def test_a_teens_parent_does_not_see_the_confidential_result(client, session, infant) -> None:
    make_teen_of_infant_record(session, infant)
    hidden = next(r for r in of(session, DiagnosticReport, infant["patient"]) if r.confidential)
    log_in(client, session, infant["parent"])

    listing = client.get(f"/p/{infant['patient'].public_id}/results").text
    direct = client.get(f"/p/{infant['patient'].public_id}/reports/{hidden.public_id}")

    assert "Newborn bilirubin" in listing and hidden.display not in listing
    assert direct.status_code == 404


def test_the_patients_own_view_shows_the_confidential_result(client, session, infant) -> None:
    hidden = next(r for r in of(session, DiagnosticReport, infant["patient"]) if r.confidential)
    log_in(client, session, infant["parent"])

    listing = client.get(f"/p/{infant['patient'].public_id}/results").text

    assert hidden.display in listing


def hold_laboratory_results_issued_now(session):
    for observation in session.scalars(select(Observation)):
        observation.issued = utcnow()
    results.set_hold(
        session,
        category="laboratory",
        hold_hours=48,
        reason="The pathologist reviews these first",
        set_by_person_id=None,
    )
    session.commit()


def test_a_held_result_is_hidden_from_the_family(client, session, infant) -> None:
    hold_laboratory_results_issued_now(session)
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/results").text

    assert "Newborn bilirubin" not in page and "No test results yet." in page


def test_a_clinician_sees_a_held_result_marked_not_yet_released(client, session, infant) -> None:
    hold_laboratory_results_issued_now(session)
    log_in(client, session, clinician(session))

    page = client.get(f"/p/{infant['patient'].public_id}/results").text

    assert "Newborn bilirubin" in page and "Not yet released to the patient" in page


# --- growth -------------------------------------------------------------------------------------


def test_the_growth_page_draws_weight_length_and_head_with_centiles_in_words(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/growth").text

    assert page.count('<figure class="growth-chart">') == 3
    assert "Weight" in page and "Height or length" in page and "Head size" in page
    assert "in 100 children." in page and ">kg<" in page  # a short sentence; the unit on the axis


def test_an_implausible_measurement_is_shown_and_flagged(client, session, infant) -> None:
    weight = [o for o in of(session, Observation, infant["patient"]) if o.code == "29463-7"][-1]
    weight = session.get(Observation, weight.id)
    weight.value = 40.0
    session.add(weight)
    session.commit()
    log_in(client, session, infant["parent"])

    page = client.get(f"/p/{infant['patient'].public_id}/growth").text

    assert "Check this measurement:" in page and "40 kg" in page


def test_growth_is_in_the_navigation_only_under_20(client, session, infant, stranger) -> None:
    adult = session.get(Patient, stranger.id)
    adult.birth_date, adult.person_id = date(1970, 1, 1), infant["parent"].id
    session.add(adult)
    session.commit()
    log_in(client, session, infant["parent"])

    child_page = client.get(f"/p/{infant['patient'].public_id}/summary").text
    adult_page = client.get(f"/p/{adult.public_id}/summary").text
    adult_growth = client.get(f"/p/{adult.public_id}/growth")

    assert f"/p/{infant['patient'].public_id}/growth" in child_page
    assert f"/p/{adult.public_id}/growth" not in adult_page
    assert adult_growth.status_code == 404


# --- download -------------------------------------------------------------------------------------


def test_download_my_record_is_an_audited_fhir_attachment(client, session, infant) -> None:
    log_in(client, session, infant["parent"])
    before = len(audit_events(session))

    response = form_post(client, f"/p/{infant['patient'].public_id}/download")

    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="record.json"'
    bundle = json.loads(response.text)
    assert bundle["resourceType"] == "Bundle" and bundle["entry"]
    new = audit_events(session)[before:]
    assert [(e.action, e.route, e.patient_id) for e in new] == [
        ("download", "record_download", infant["patient"].id)
    ]


def test_a_limited_proxy_cannot_download_the_whole_record(client, session, infant) -> None:
    make_teen_of_infant_record(session, infant)
    log_in(client, session, infant["parent"])

    summary = client.get(f"/p/{infant['patient'].public_id}/summary").text
    response = form_post(client, f"/p/{infant['patient'].public_id}/download")

    assert "Download my record" not in summary
    assert response.status_code == 404


# --- release holds screen ---------------------------------------------------------------------


def test_a_clinician_holds_a_category_with_a_reason_and_it_is_audited(client, session) -> None:
    doctor = clinician(session)
    log_in(client, session, doctor)

    response = form_post(
        client,
        "/clinic/result-holds",
        {"category": "pathology", "hours": "24", "reason": "Discuss results in person"},
    )

    assert response.status_code == 200 and "Discuss results in person" in response.text
    holds = results.holds(session)
    session.commit()
    assert holds["pathology"].hold_hours == 24
    (event,) = [e for e in audit_events(session) if e.route == "result_hold_update"]
    assert (event.action, event.resource_type, event.resource_id) == ("update", "ResultHold", "pathology")


def test_a_hold_without_a_reason_is_refused_and_changes_nothing(client, session) -> None:
    log_in(client, session, clinician(session))

    response = form_post(
        client, "/clinic/result-holds", {"category": "pathology", "hours": "24", "reason": ""}
    )

    assert response.status_code == 400 and "reason" in response.text
    assert results.holds(session) == {}
    session.commit()


def test_a_clinician_ends_a_hold(client, session) -> None:
    results.set_hold(
        session, category="pathology", hold_hours=5, reason="Discuss results in person", set_by_person_id=None
    )
    session.commit()
    log_in(client, session, clinician(session))

    response = form_post(client, "/clinic/result-holds/clear", {"category": "pathology"})

    assert response.status_code == 200
    assert results.holds(session) == {}
    session.commit()


def test_only_clinicians_reach_the_holds_screen(client, session, infant) -> None:
    log_in(client, session, infant["parent"])

    response = client.get("/clinic/result-holds")

    assert response.status_code == 403


def test_a_held_results_own_page_answers_404_to_the_family(client, session, infant) -> None:
    bilirubin = next(o for o in of(session, Observation, infant["patient"]) if o.code == "1975-2")
    hold_laboratory_results_issued_now(session)
    log_in(client, session, infant["parent"])

    response = client.get(f"/p/{infant['patient'].public_id}/results/{bilirubin.public_id}")

    assert response.status_code == 404


def test_the_summary_shows_ten_current_medications_and_links_to_the_rest(
    client, session, infant, tmp_path
) -> None:
    patient = infant["patient"]
    medicines = [
        {
            "resourceType": "MedicationRequest",
            "id": f"long-list-{number}",
            "status": "active",
            "intent": "order",
            "subject": {"reference": f"Patient/{patient.fhir_id}"},
            "authoredOn": f"2024-01-{number + 1:02}",
            "medicationCodeableConcept": {"text": f"Medicine number {number}"},
        }
        for number in range(12)
    ]
    importer.import_paths(client.app.state.engine, [write_bundle(tmp_path / "long.json", medicines)])
    log_in(client, session, infant["parent"])

    summary = client.get(f"/p/{patient.public_id}/summary").text
    everything = client.get(f"/p/{patient.public_id}/medications").text

    listed = summary.split("Current medications", 1)[1].split("<h2>", 1)[0]
    assert listed.count("<li>") == 10
    assert "Medicine number 11<" in listed and "Medicine number 0<" not in listed  # the newest first
    assert f'href="/p/{patient.public_id}/medications">More of the list' in summary
    assert all(f"Medicine number {number}<" in everything for number in range(12))


def test_each_result_in_a_history_says_where_it_falls_in_its_range_in_words_and_a_band(
    client, session, infant
) -> None:
    heads = [o for o in of(session, Observation, infant["patient"]) if o.code == "9843-4"]
    for observation in heads:  # a made-up range the sample's measurements fall around
        stored = session.get(Observation, observation.id)
        stored.reference_low, stored.reference_high = 30.0, 40.0
    session.commit()
    values = sorted(o.value for o in heads)
    url = f"/p/{infant['patient'].public_id}/results/{heads[-1].public_id}"
    log_in(client, session, infant["parent"])

    english = client.get(url).text
    spanish = client.get(url, headers={"Accept-Language": "es"}).text

    history = english.split("<tbody>")[1]
    assert history.count('class="range-band"') == len(heads)
    assert ("Below the normal range" in history) == (values[0] < 30)
    assert ("Above the normal range" in history) == (values[-1] > 40)
    assert 'aria-hidden="true"' in history  # the words, not the picture, carry it
    assert "rango normal" in spanish.split("<tbody>")[1]
    assert "No range given" not in english


# --- statements built once: each request binds its own values -------------------------------------


def test_two_held_categories_hide_the_held_result_from_the_summary_and_the_results(
    client, session, infant
) -> None:
    hold_laboratory_results_issued_now(session)
    results.set_hold(
        session, category="pathology", hold_hours=24, reason="The pathologist reviews these first",
        set_by_person_id=None,
    )  # fmt: skip
    session.commit()
    log_in(client, session, infant["parent"])

    summary = client.get(f"/p/{infant['patient'].public_id}/summary").text
    listing = client.get(f"/p/{infant['patient'].public_id}/results").text

    assert "bilirubin" not in summary.lower() and "No test results yet." in summary
    assert "bilirubin" not in listing.lower()


def test_a_result_shows_once_its_hold_has_run_out_after_it_was_hidden(client, session, infant) -> None:
    hold_laboratory_results_issued_now(session)
    log_in(client, session, infant["parent"])
    held = client.get(f"/p/{infant['patient'].public_id}/summary").text
    for observation in session.scalars(select(Observation)):
        observation.issued = utcnow() - timedelta(hours=49)
    session.commit()

    released = client.get(f"/p/{infant['patient'].public_id}/summary").text

    assert "bilirubin" not in held.lower()
    assert "bilirubin" in released.lower()
