"""The record pages with a real record in them (the sample infant, seen by a parent): axe, byte budgets,
320 px and no JavaScript-only controls, in English and Spanish; the keyboard walk, which follows a page's
controls and not its words, in English."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from portal.fhir import importer
from portal.models.people import Patient
from portal.models.records import ClinicalDocument, DiagnosticReport, Encounter, Observation
from tests.browser.reach_helpers import (
    ACCEPT_LANGUAGE,
    CSS_KINDS,
    HTML_CSS_BUDGET,
    HTML_KINDS,
    VIEWPORT,
    Tab,
    add_person,
    add_proxy_grant,
    sign_in_as,
    visit,
)
from tests.fhir_bundles import SAMPLE_BUNDLE

pytestmark = pytest.mark.browser

SECTIONS = ("summary", "results", "medications", "allergies", "problems", "immunizations", "visits")
SECTIONS += ("documents", "growth")


@pytest.fixture(scope="module")
def record(live_server):
    """The sample infant's record, a parent holding a grant for it, and one page of each kind."""
    importer.import_paths(live_server.engine, [SAMPLE_BUNDLE])
    with Session(live_server.engine) as db_session, db_session.begin():
        patient = db_session.exec(select(Patient).where(Patient.family_name == "Sample")).one()
        parent = add_person(db_session, "Pat Sample")
        add_proxy_grant(db_session, parent, patient)
        base = f"/p/{patient.public_id}"

        def first(model):
            return db_session.exec(
                select(model).where(model.patient_id == patient.id).order_by(col(model.id))
            ).first()

        head = db_session.exec(
            select(Observation).where(Observation.patient_id == patient.id, Observation.code == "9843-4")
        ).first()
        paths = [f"{base}/{section}" for section in SECTIONS] + [
            f"{base}/reports/{first(DiagnosticReport).public_id}",
            f"{base}/results/{head.public_id}",
            f"{base}/visits/{first(Encounter).public_id}",
            f"{base}/documents/{first(ClinicalDocument).public_id}",
        ]
        return parent.id, paths


@pytest.fixture(scope="module", params=["en", "es"])
def lang(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def reports(lang, browser, live_server, record):
    parent_id, paths = record
    context = browser.new_context(viewport=VIEWPORT, locale=ACCEPT_LANGUAGE[lang])
    sign_in_as(live_server, context, parent_id)
    tab = Tab(context)
    try:
        return [visit(tab, live_server, path, walk_keyboard=lambda _key: lang == "en")[0] for path in paths]
    finally:
        context.close()


def test_every_record_page_opens(reports) -> None:
    assert [(r.url, r.status) for r in reports if r.status != 200] == []


def test_record_pages_have_no_axe_violations(reports) -> None:
    assert {r.url: r.axe for r in reports if r.axe} == {}


def test_record_pages_fit_the_first_round_trip(reports) -> None:
    sizes = {r.url: r.bytes_of(*HTML_KINDS, *CSS_KINDS) for r in reports}

    assert {url: size for url, size in sizes.items() if size > HTML_CSS_BUDGET} == {}


def test_record_pages_fit_320_px_and_work_by_keyboard_without_javascript(lang, reports) -> None:
    problems = {r.url: r.overflow + r.keyboard + r.needs_js + r.media + r.furniture for r in reports}

    assert lang != "en" or all(r.keyboard_walked for r in reports), "each record page is walked in English"
    assert {url: found for url, found in problems.items() if found} == {}
