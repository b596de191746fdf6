"""Who may open which patient's pages: every patient-data route, as every viewer, for every patient.

The routes are found in the app (every GET route whose path names `{patient}`), so a new chart page is
checked the day it is added. The expected table is written out here from the clinic's rules, not computed
by the access service, and the clock is frozen on the days the rules turn over: the teen's 18th birthday
and the younger child's 12th, and the day before each.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select
from starlette.routing import Route

from portal.config import Settings
from portal.models import (
    ClinicalDocument,
    DiagnosticReport,
    Encounter,
    FhirResource,
    Observation,
    Patient,
    Person,
    ProxyGrant,
)
from tests.conftest import log_in

# The family. Ages on 1 July 2026: infant 0, child 8, teen 15.
BIRTH = {
    "infant": date(2026, 1, 10),
    "child": date(2018, 2, 1),
    "teen": date(2011, 6, 15),
    "other": date(1980, 5, 5),
}
PATIENTS = tuple(BIRTH)

# The days the clock is frozen on.
DAYS = {
    "ordinary day": date(2026, 7, 1),
    "day before the teen turns 18": date(2029, 6, 14),
    "the teen's 18th birthday": date(2029, 6, 15),
    "day before the child turns 12": date(2030, 1, 31),
    "the child's 12th birthday": date(2030, 2, 1),
}

VIEWERS = (
    "signed out",
    "parent",
    "teen",
    "unrelated patient",
    "revoked proxy",
    "expired proxy",
    "clinician",
    "front_desk",
    "billing",
    "admin",
)
STAFF = ("clinician", "front_desk", "billing", "admin")
FULL_UNTIL, ADULT_AT = 12, 18


def age(patient: str, today: date) -> int:
    born = BIRTH[patient]
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def parent_level(patient: str, today: date) -> str | None:
    """The parent holds a full parent grant to each child: full under 12, limited 12-17, none from 18."""
    if patient == "other":
        return None
    years = age(patient, today)
    if years >= ADULT_AT:
        return None
    return "full" if years < FULL_UNTIL else "limited"


def own_patient(viewer: str) -> str | None:
    return {"teen": "teen", "unrelated patient": "other"}.get(viewer)


# What each kind of page allows, written out. A page kind answers: may `viewer` open `patient`'s page today?
def record_page(viewer: str, patient: str, today: date) -> bool:
    """Results, medications, visits...: the patient, a proxy in force, and clinicians."""
    return (
        own_patient(viewer) == patient
        or (viewer == "parent" and parent_level(patient, today) is not None)
        or viewer == "clinician"
    )


def demographics_page(viewer: str, patient: str, today: date) -> bool:
    """The summary (name, age, banner): the patient, a proxy in force, and every member of staff."""
    return record_page(viewer, patient, today) or viewer in STAFF


def own_access_page(viewer: str, patient: str, today: date) -> bool:
    """Who holds access and what they did: the patient alone (not a proxy, not staff)."""
    return own_patient(viewer) == patient


def who_viewed_page(viewer: str, patient: str, today: date) -> bool:
    """Who has viewed the record: the patient, and admins (who read the audit log); never a proxy."""
    return own_patient(viewer) == patient or viewer == "admin"


def growth_page(viewer: str, patient: str, today: date) -> bool:
    """Growth charts: as the record, for patients under 20 only (an adult's answers like a missing page)."""
    return record_page(viewer, patient, today) and age(patient, today) < 20


def documents_page(viewer: str, patient: str, today: date) -> bool:
    """Summaries and PDFs: the patient, a proxy in force, clinicians and the front desk (who print them)."""
    return record_page(viewer, patient, today) or viewer == "front_desk"


def front_desk_proxies_page(viewer: str, patient: str, today: date) -> bool:
    """The staff screen for a patient's grants: front desk and admins."""
    return viewer in ("front_desk", "admin")


Rule = Callable[[str, str, date], bool]
# Route name -> its rule. A chart page not named here is held to the strictest patient-data rule (record).
PAGE_RULES: dict[str, Rule] = {
    "chart_home": demographics_page,  # redirects to the summary
    "summary_page": demographics_page,
    "access_page": own_access_page,
    "viewed_page": who_viewed_page,
    "growth_page": growth_page,
    "print_page": documents_page,
    "record_summary_download": documents_page,
    "immunization_record_download": documents_page,
    "visit_summary_download": documents_page,
    "patient_proxies_page": front_desk_proxies_page,
}


# Path parameter -> the record table whose public id it names, for pages about one item of the patient.
# Every patient of the family has one ordinary result; the teen's page is asked for with a confidential one.
ITEM_TABLES: dict[str, type] = {
    "result": Observation,
    "observation": Observation,
    "visit": Encounter,
    "encounter": Encounter,
    "report": DiagnosticReport,
    "document": ClinicalDocument,
}
CONFIDENTIAL_MARKER = "Private teen result 7f3a"  # the display text of the teen's confidential result


@dataclass(frozen=True)
class PatientRoute:
    name: str
    path: str
    rule: Rule

    @property
    def other_parameters(self) -> list[str]:
        return [name for name in re.findall(r"{(\w+)", self.path) if name != "patient"]


def patient_routes(app) -> list[PatientRoute]:
    found = []
    for route in app.routes:
        if isinstance(route, Route) and "GET" in (route.methods or set()) and "{patient}" in route.path:
            found.append(PatientRoute(route.name, route.path, PAGE_RULES.get(route.name, record_page)))
    return found


def checkable(app) -> list[PatientRoute]:
    return [route for route in patient_routes(app) if set(route.other_parameters) <= set(ITEM_TABLES)]


def sees_confidential(viewer: str, patient: str, today: date) -> bool:
    """The patient, clinicians and a proxy at full level see confidential items; nobody else does."""
    return (
        own_patient(viewer) == patient
        or viewer == "clinician"
        or (viewer == "parent" and parent_level(patient, today) == "full")
    )


@pytest.fixture
def family(session: Session) -> dict[str, object]:
    people = {
        name: Person(display_name=name.title())
        for name in ("parent", "teen", "unrelated patient", "revoked proxy", "expired proxy")
    }
    people.update({role: Person(display_name=f"Staff {role}", staff_role=role) for role in STAFF})
    session.add_all(people.values())
    session.flush()
    patients = {
        name: Patient(
            fhir_id=f"matrix-{name}", given_name=name.title(), family_name="Family", birth_date=born
        )
        for name, born in BIRTH.items()
    }
    patients["teen"].person_id = people["teen"].id
    patients["other"].person_id = people["unrelated patient"].id
    session.add_all(patients.values())
    session.flush()

    def grant(proxy: str, patient: str, **fields: object) -> None:
        session.add(
            ProxyGrant(
                proxy_person_id=people[proxy].id,
                patient_id=patients[patient].id,
                starts_on=date(2026, 1, 10),
                **{"relationship": "parent", **fields},
            )
        )

    for child in ("infant", "child", "teen"):
        grant("parent", child)
    grant("revoked proxy", "child", revoked_at=datetime(2026, 3, 1, tzinfo=UTC))
    grant("expired proxy", "child", relationship="caregiver", ends_on=date(2026, 3, 1))
    for name, patient in patients.items():
        add_result(session, patient, f"Ordinary result of {name}", confidential=False)
        for model in ITEM_MODELS:
            add_item(session, patient, model, f"Ordinary {model.__name__} of {name}", confidential=False)
    add_result(session, patients["teen"], CONFIDENTIAL_MARKER, confidential=True)
    for model in ITEM_MODELS:
        add_item(session, patients["teen"], model, CONFIDENTIAL_MARKER, confidential=True)
    session.commit()
    return {"people": people, "patients": patients}


def add_result(session: Session, patient: Patient, display: str, *, confidential: bool) -> None:
    resource = FhirResource(
        resource_type="Observation",
        fhir_id=f"obs-{secrets.token_hex(6)}",
        patient_id=patient.id,
        content_hash="0" * 64,
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
            category="laboratory",
            display=display,
            value=1.0,
            effective_at=datetime(2026, 1, 20, tzinfo=UTC),
            confidential=confidential,
        )
    )


# The other kinds of item a page can be about, with the columns their pages read.
ITEM_MODELS: dict[type, tuple[str, dict[str, object]]] = {
    Encounter: ("Encounter", {"start_at": datetime(2026, 1, 20, 9, tzinfo=UTC), "status": "finished"}),
    DiagnosticReport: (
        "DiagnosticReport",
        {"category": "laboratory", "effective_at": datetime(2026, 1, 20, tzinfo=UTC), "status": "final"},
    ),
    ClinicalDocument: (
        "DocumentReference",
        {"date": datetime(2026, 1, 20, tzinfo=UTC), "text": "A note.", "status": "current"},
    ),
}


def add_item(session: Session, patient: Patient, model: type, display: str, *, confidential: bool) -> None:
    resource_type, fields = ITEM_MODELS[model]
    resource = FhirResource(
        resource_type=resource_type,
        fhir_id=f"item-{secrets.token_hex(6)}",
        patient_id=patient.id,
        content_hash="0" * 64,
        resource_json="{}",
    )
    session.add(resource)
    session.flush()
    session.add(
        model(
            resource_id=resource.id,
            patient_id=patient.id,
            fhir_id=resource.fhir_id,
            display=display,
            confidential=confidential,
            **fields,
        )
    )


def item_of(session: Session, table: type, owner: Patient, *, confidential: bool) -> str:
    row = session.exec(
        select(table).where(table.patient_id == owner.id, table.confidential.is_(confidential))  # type: ignore[attr-defined]
    ).first()
    session.commit()
    return row.public_id


def url_of(
    session: Session, route: PatientRoute, patient: Patient, owner: Patient, *, confidential: bool
) -> str:
    """The route's URL for `patient`, naming an item of `owner` (the same patient, or another)."""
    url = route.path.replace("{patient}", patient.public_id)
    for name in route.other_parameters:
        url = url.replace(
            "{" + name + "}", item_of(session, ITEM_TABLES[name], owner, confidential=confidential)
        )
    return url


def answer(client, url: str) -> tuple[str, str]:
    response = client.get(url)
    if response.url.path == "/login":
        return "sign-in", ""
    assert response.status_code in (200, 404), f"{url} answered {response.status_code}"
    return ("allow" if response.status_code == 200 else "deny"), response.text


@pytest.mark.parametrize("day", list(DAYS), ids=list(DAYS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_patient_page_answers_exactly_as_the_rules_say(
    app, client, session, family, monkeypatch, viewer: str, day: str
) -> None:
    today = DAYS[day]
    monkeypatch.setattr(Settings, "today", lambda self: today)
    if viewer != "signed out":
        log_in(client, session, family["people"][viewer])
    patients: dict[str, Patient] = family["patients"]
    routes = checkable(app)
    # Item pages about the teen name the teen's confidential result: only those who see it may open it.
    cases = [
        (route, patient, bool(route.other_parameters) and patient == "teen")
        for route in routes
        for patient in PATIENTS
    ]
    expected = {
        (route.name, patient): "sign-in"
        if viewer == "signed out"
        else (
            "allow"
            if route.rule(viewer, patient, today)
            and (not confidential or sees_confidential(viewer, patient, today))
            else "deny"
        )
        for route, patient, confidential in cases
    }

    pages = {
        (route.name, patient): answer(
            client, url_of(session, route, patients[patient], patients[patient], confidential=confidential)
        )
        for route, patient, confidential in cases
    }

    assert {case: outcome for case, (outcome, _) in pages.items()} == expected
    if viewer not in ("signed out", "clinician") and not sees_confidential(viewer, "teen", today):
        leaked = [case for case, (_, text) in pages.items() if CONFIDENTIAL_MARKER in text]
        assert leaked == [], "a confidential result of the teen was shown"


@pytest.mark.parametrize("viewer", ["parent", "teen", "clinician"])
def test_an_item_of_another_patient_answers_like_a_missing_one(
    app, client, session, family, monkeypatch, viewer: str
) -> None:
    monkeypatch.setattr(Settings, "today", lambda self: DAYS["ordinary day"])
    log_in(client, session, family["people"][viewer])
    patients: dict[str, Patient] = family["patients"]
    item_routes = [route for route in checkable(app) if route.other_parameters]
    if not item_routes:
        pytest.skip("no page about one item of a record yet")

    answers = {
        (route.name, patient): answer(
            client, url_of(session, route, patients[patient], patients["other"], confidential=False)
        )[0]
        for route in item_routes
        for patient in ("infant", "child", "teen")
    }

    assert set(answers.values()) == {"deny"}


def test_the_matrix_covers_the_chart_and_the_proxy_pages(app) -> None:
    names = {route.name for route in patient_routes(app)}

    assert {"summary_page", "access_page", "patient_proxies_page"} <= names


def test_pages_about_one_item_have_a_way_to_find_an_item(app) -> None:
    missing = [route.path for route in patient_routes(app) if route not in checkable(app)]

    if missing:
        pytest.skip(f"not in the matrix until ITEM_TABLES names their parameters: {', '.join(missing)}")
