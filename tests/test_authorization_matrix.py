"""Who may open which patient's pages: every patient-data route, as every viewer, for every patient.

The routes are found in the app (every GET route whose path names `{patient}`), so a new chart page is
checked the day it is added. The expected table is written out here from the clinic's rules, not computed
by the access service, and the clock is frozen on the days the rules turn over: the teen's 18th birthday
and the younger child's 12th, and the day before each.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session
from starlette.routing import Route

from portal.config import Settings
from portal.models import Patient, Person, ProxyGrant
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


def front_desk_proxies_page(viewer: str, patient: str, today: date) -> bool:
    """The staff screen for a patient's grants: front desk and admins."""
    return viewer in ("front_desk", "admin")


Rule = Callable[[str, str, date], bool]
# Route name -> its rule. A chart page not named here is held to the strictest patient-data rule (record).
PAGE_RULES: dict[str, Rule] = {
    "chart_home": demographics_page,  # redirects to the summary
    "summary_page": demographics_page,
    "access_page": own_access_page,
    "patient_proxies_page": front_desk_proxies_page,
}


# Route name -> how to find the other path parameters of a page about one item of the patient, from the
# patient's own data: fn(session, patient) -> {parameter: value}, or None when the patient has no such item.
ITEM_FINDERS: dict[str, Callable[[Session, Patient], dict[str, str] | None]] = {}


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
    return [
        route for route in patient_routes(app) if not route.other_parameters or route.name in ITEM_FINDERS
    ]


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
    session.commit()
    return {"people": people, "patients": patients}


def url_of(session: Session, route: PatientRoute, patient: Patient, owner: Patient) -> str | None:
    """The route's URL for `patient`, naming an item of `owner` (the same patient, or another)."""
    url = route.path.replace("{patient}", patient.public_id)
    if route.other_parameters:
        params = ITEM_FINDERS[route.name](session, owner)
        session.commit()
        if params is None:
            return None
        for name, value in params.items():
            url = url.replace("{" + name + "}", value)
    return url


def request_as(client, session: Session, route: PatientRoute, patient: Patient) -> str:
    url = url_of(session, route, patient, patient)
    if url is None:
        return "no item"
    response = client.get(url)
    if response.url.path == "/login":
        return "sign-in"
    assert response.status_code in (200, 404), f"{route.name} answered {response.status_code}"
    return "allow" if response.status_code == 200 else "deny"


@pytest.mark.parametrize("day", list(DAYS), ids=list(DAYS))
@pytest.mark.parametrize("viewer", VIEWERS)
def test_every_patient_page_answers_exactly_as_the_rules_say(
    app, client, session, family, monkeypatch, viewer: str, day: str
) -> None:
    today = DAYS[day]
    monkeypatch.setattr(Settings, "today", lambda self: today)
    if viewer != "signed out":
        log_in(client, session, family["people"][viewer])
    routes = checkable(app)
    expected = {
        (route.name, patient): "sign-in"
        if viewer == "signed out"
        else ("allow" if route.rule(viewer, patient, today) else "deny")
        for route in routes
        for patient in PATIENTS
    }

    actual = {
        (route.name, patient): request_as(client, session, route, family["patients"][patient])
        for route in routes
        for patient in PATIENTS
    }

    assert actual == expected


def test_the_matrix_covers_the_chart_and_the_proxy_pages(app) -> None:
    names = {route.name for route in patient_routes(app)}

    assert {"summary_page", "access_page", "patient_proxies_page"} <= names


def test_pages_about_one_item_have_a_way_to_find_an_item(app) -> None:
    missing = [
        route.path
        for route in patient_routes(app)
        if route.name not in ITEM_FINDERS and route.other_parameters
    ]

    if missing:
        pytest.skip(
            f"not in the matrix until ITEM_FINDERS names how to find their item: {', '.join(missing)}"
        )
