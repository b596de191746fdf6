"""Every page that shows a patient's data writes exactly one audit event naming who saw what.

The pages are found from the app's routes: every GET route whose path holds `{patient}`. Each must have an
entry in PAGES below, saying what its event names, who may see it and, for a page of one item
(`/p/{patient}/<noun>/{id}`), how to find one of the patient's items in the sample data; or an entry in
NOT_PATIENT_DATA saying why it shows none. A new page with neither fails here, so none escapes the check.

Adding a page is one line, for example:

    "result_page": Page("Observation", item=first(Observation)),
    "document_page": Page("DocumentReference", viewers=("patient", "parent", "clinician", "front_desk"),
                          item=first(ClinicalDocument)),
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session, SQLModel, func, select
from starlette.routing import Route

from portal.app import VIEW_MODULES
from portal.fhir.importer import import_paths
from portal.models import (
    AuditEvent,
    ClinicalDocument,
    DiagnosticReport,
    Encounter,
    Observation,
    Patient,
    Person,
    ProxyGrant,
)
from tests.conftest import log_in

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "sample-infant.json"

# What the audit event's actor_role says for each kind of viewer.
ROLES = {
    "patient": "patient",
    "parent": "proxy",
    "clinician": "clinician",
    "front_desk": "front_desk",
    "billing": "billing",
    "admin": "admin",
}
STAFF_ROLES = ("clinician", "front_desk", "billing", "admin")

ItemFinder = Callable[[Session, Patient], str | dict[str, str]]


@dataclass(frozen=True)
class Page:
    """What one patient page's audit event must say, and who to visit it as."""

    resource_type: str
    # Everyone who may see it (the access rules for its Area): the patient, a parent of the infant in
    # the sample data, and staff roles by name.
    viewers: tuple[str, ...] = ("patient", "parent", "clinician")
    # For a page of one item: the value of its other path parameter (a str) or parameters (a dict).
    item: ItemFinder | None = None
    action: str = "view"


def first(model: type[SQLModel]) -> ItemFinder:
    """The public id of the patient's first row of `model` (Observation, Encounter, ClinicalDocument...)."""

    def find(session: Session, patient: Patient) -> str:
        row = session.exec(
            select(model).where(model.patient_id == patient.id).order_by(model.id)  # type: ignore[attr-defined]
        ).first()
        assert row is not None, f"the sample data holds no {model.__name__} for its patient"
        return str(row.public_id)  # type: ignore[attr-defined]

    return find


# Summaries and PDFs (Area.DOCUMENTS): the patient, a proxy, and the staff who print them.
DOCUMENT_VIEWERS = ("patient", "parent", "clinician", "front_desk")

PAGES: dict[str, Page] = {
    "summary_page": Page("Summary"),
    "viewed_page": Page("audit_event", viewers=("patient", "admin")),
    "access_page": Page("proxy_grant", viewers=("patient",)),
    "patient_proxies_page": Page("proxy_grant", viewers=("front_desk", "admin")),
    "results_page": Page("DiagnosticReport"),
    "result_page": Page("Observation", item=first(Observation)),
    "report_page": Page("DiagnosticReport", item=first(DiagnosticReport)),
    "medications_page": Page("MedicationRequest"),
    "allergies_page": Page("AllergyIntolerance"),
    "problems_page": Page("Condition"),
    "immunizations_page": Page("Immunization"),
    "visits_page": Page("Encounter"),
    "visit_page": Page("Encounter", item=first(Encounter)),
    "documents_page": Page("DocumentReference"),
    "document_page": Page("DocumentReference", item=first(ClinicalDocument)),
    "growth_page": Page("Growth"),
    "print_page": Page("Documents", viewers=DOCUMENT_VIEWERS),
    "record_summary_download": Page("RecordSummary", viewers=DOCUMENT_VIEWERS, action="download"),
    "immunization_record_download": Page("ImmunizationRecord", viewers=DOCUMENT_VIEWERS, action="download"),
    "visit_summary_download": Page(
        "Encounter", viewers=DOCUMENT_VIEWERS, action="download", item=first(Encounter)
    ),
}

# Routes under /p/{patient} that show no patient data, and why.
NOT_PATIENT_DATA: dict[str, str] = {
    "chart_home": "redirects to the summary page",
}


def patient_routes(routes) -> dict[str, Route]:
    """Every GET route whose path names a patient, by route name."""
    return {
        route.name: route
        for route in routes
        if isinstance(route, Route) and "{patient}" in route.path and "GET" in (route.methods or ())
    }


ROUTES = patient_routes(route for module in VIEW_MODULES for route in module.routes)
CHECKED = sorted(name for name in ROUTES if name in PAGES)
ITEM_PAGES = [name for name in CHECKED if set(ROUTES[name].param_convertors) - {"patient"}]
VISITS = [(name, viewer) for name in CHECKED for viewer in PAGES[name].viewers]


@pytest.fixture
def world(app, session):
    """The sample infant's record, imported, and everyone who might look at it."""
    summary = import_paths(app.state.engine, [SAMPLE])
    assert summary.failed == [], summary.failed
    patient = session.exec(select(Patient)).one()
    people = {
        name: Person(display_name=f"{name} person", staff_role=name if name in STAFF_ROLES else None)
        for name in (*ROLES, "stranger")
    }
    session.add_all(people.values())
    session.flush()
    patient.person_id = people["patient"].id
    assert patient.birth_date is not None
    session.add(
        ProxyGrant(
            proxy_person_id=people["parent"].id,
            patient_id=patient.id,
            relationship="parent",
            starts_on=patient.birth_date,
        )
    )
    session.commit()
    return {"patient": patient, "people": people}


def url_of(app, session: Session, name: str, patient: Patient, *, items_of: Patient | None = None) -> str:
    """The page's URL for `patient`, showing an item of `items_of` (the same patient unless given)."""
    route, page = ROUTES[name], PAGES[name]
    others = [param for param in route.param_convertors if param != "patient"]
    params: dict[str, str] = {}
    if others:
        assert page.item is not None, (
            f"{route.path} shows one item: give PAGES[{name!r}] an item finder, e.g. item=first(Observation)"
        )
        found = page.item(session, items_of or patient)
        params = found if isinstance(found, dict) else {others[0]: found}
    session.commit()  # end the read before the app takes SQLite's lock
    return app.url_path_for(name, patient=patient.public_id, **params)


def event_count(session: Session) -> int:
    session.expire_all()
    count = session.exec(select(func.count()).select_from(AuditEvent)).one()
    session.commit()
    return count


def events_after(session: Session, count: int) -> list[AuditEvent]:
    session.expire_all()
    found = list(session.exec(select(AuditEvent).order_by(AuditEvent.id).offset(count)))
    session.commit()
    return found


@pytest.mark.parametrize("name", sorted(ROUTES))
def test_every_patient_page_is_registered_here(name) -> None:
    assert name in PAGES or name in NOT_PATIENT_DATA, (
        f"{ROUTES[name].path} ({name}) shows a patient's chart: add it to PAGES in "
        f"tests/test_audit_every_route.py (what its audit event names and who may see it), or to "
        f"NOT_PATIENT_DATA with the reason it shows no patient data"
    )


def test_every_registry_entry_names_a_route() -> None:
    stale = sorted(name for name in (*PAGES, *NOT_PATIENT_DATA) if name not in ROUTES)

    assert stale == [], f"no GET route under /p/{{patient}} has these names any more: {stale}"


def test_the_app_serves_exactly_the_routes_checked_here(app) -> None:
    assert set(patient_routes(app.routes)) == set(ROUTES)


@pytest.mark.parametrize(("name", "viewer"), VISITS, ids=[f"{name}-{viewer}" for name, viewer in VISITS])
def test_each_visit_writes_one_event_naming_the_patient_actor_and_resource(
    app, client, session, world, name, viewer
) -> None:
    patient, person = world["patient"], world["people"][viewer]
    page = PAGES[name]
    url = url_of(app, session, name, patient)
    log_in(client, session, person)
    before = event_count(session)

    response = client.get(url)

    assert response.status_code == 200, f"{viewer} could not open {url}"
    written = events_after(session, before)
    assert len(written) == 1, f"{name} wrote {len(written)} audit events for one visit"
    [event] = written
    assert (event.patient_id, event.actor_person_id, event.actor_role) == (
        patient.id,
        person.id,
        ROLES[viewer],
    )
    assert (event.route, event.resource_type, event.action, event.outcome) == (
        name,
        page.resource_type,
        page.action,
        "allowed",
    )
    if page.item is not None:
        assert event.resource_id, f"{name} shows one item: its event must name it in resource_id"


@pytest.mark.parametrize("name", CHECKED)
def test_a_denied_visit_writes_one_denied_event(app, client, session, world, name) -> None:
    patient, stranger = world["patient"], world["people"]["stranger"]
    url = url_of(app, session, name, patient)
    log_in(client, session, stranger)
    before = event_count(session)

    response = client.get(url)

    assert response.status_code == 404
    written = events_after(session, before)
    assert [(e.patient_id, e.actor_person_id, e.route, e.outcome) for e in written] == [
        (patient.id, stranger.id, name, "denied")
    ]


@pytest.mark.parametrize("name", CHECKED)
def test_an_htmx_request_for_a_page_writes_one_event_too(app, client, session, world, name) -> None:
    patient, person = world["patient"], world["people"][PAGES[name].viewers[0]]
    url = url_of(app, session, name, patient)
    log_in(client, session, person)
    before = event_count(session)

    response = client.get(url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert [(e.patient_id, e.route) for e in events_after(session, before)] == [(patient.id, name)]


@pytest.mark.parametrize("name", ITEM_PAGES)
def test_an_item_of_another_patient_answers_404_and_is_recorded_as_denied(
    app, client, session, world, name
) -> None:
    other_person = Person(display_name="Other patient")
    session.add(other_person)
    session.flush()
    other = Patient(fhir_id="other-patient", given_name="Otto", person_id=other_person.id)
    session.add(other)
    session.commit()
    url = url_of(app, session, name, other, items_of=world["patient"])
    log_in(client, session, other_person)
    before = event_count(session)

    response = client.get(url)

    assert response.status_code == 404, f"{name} showed another patient's item"
    assert [(e.patient_id, e.actor_person_id, e.outcome) for e in events_after(session, before)] == [
        (other.id, other_person.id, "denied")
    ]
