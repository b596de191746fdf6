"""Every route that shows or changes a patient's data writes an audit event naming who did what to whom.

The routes, their events (action, resource type) and who may use them come from tests/route_registry.py,
which tests/test_route_registry.py keeps complete: a new route cannot escape this check. Each route is used
on the sample infant's record by everyone the registry's rule lets in, and once by a stranger.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import Session, func, select

from portal.fhir.importer import import_paths
from portal.models import AuditEvent, MedicationRequest, Patient, Person, ProxyGrant, RefillRequest
from tests.billing_data import add_bill, add_paid_payment, form_key, pay_form
from tests.conftest import form_post, log_in
from tests.route_registry import FRAGMENT, ITEM_FINDERS, ITEM_MAKERS, STAFF, PatientData, patient_data
from tests.scheduling_helpers import booked_visit, calendar, open_time_keys, wait_list_offer

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "fhir" / "sample-infant.json"

# Who uses the infant's chart, by their relation to the infant (as the registry's rules name them), and what
# their audit event's actor_role says.
RELATIONS = {"patient": "self", "parent": "full proxy", **{role: role for role in STAFF}}
ROLES = {"patient": "patient", "parent": "proxy", **{role: role for role in STAFF}}
INFANT_AGE = 0  # the sample infant is under a year old on any day these tests run near

ROUTES: dict[str, PatientData] = patient_data(path_holds_patient=True)
FORMS: dict[str, dict[str, str] | Callable[[], dict[str, str]]] = {
    "POST /p/{patient}/medications/{medication}/refill": {"pharmacy": "riverside-main", "days_left": "3"},
    "POST /p/{patient}/refills/{refill}/decide": {"decision": "needs_visit"},
    "POST /p/{patient}/billing/pay": pay_form,  # a fresh form key each time, as each rendered form has
    "POST /p/{patient}/billing/desk-payment": lambda: {"method": "cash", "amount": "10.00", **form_key()},
    "POST /p/{patient}/billing/payments/{payment}/refund": lambda: {"amount": "5.00", **form_key()},
    "POST /p/{patient}/billing/write-off": lambda: {"amount": "10.00", "reason": "Hardship", **form_key()},
    "POST /p/{patient}/billing/plan": {"months": "2"},
    "POST /front-desk/patients/{patient}/proxies/{grant}/end": {"identity_checked": "yes"},
    "POST /p/{patient}/access/{grant}/revoke": {"confirm": "yes"},
    "POST /p/{patient}/access/invite": {"email": "helper.invited@example.org", "name": "Invited Helper"},
    "POST /p/{patient}/messages": {"topic": "medical", "subject": "A question", "body": "Is this normal?"},
    "POST /p/{patient}/messages/{thread}/reply": {"body": "Thank you."},
    "POST /p/{patient}/messages/{thread}/note": {"body": "Called the family."},
    "POST /p/{patient}/messages/{thread}/status": {"status": "closed"},
    "POST /p/{patient}/messages/{thread}/move": {"target": "97ee3c8a-7b47-5931-8347-d7917044d7f8"},
    "POST /front-desk/patients/{patient}/proxies": {
        "identity_checked": "yes",
        "email": "new.caregiver@example.org",
        "name": "New Caregiver",
        "relationship": "caregiver",
        "level": "full",
    },
    "POST /p/{patient}/appointments/book": {"type": "sick", "time": "{time}"},
    "POST /p/{patient}/appointments/request": {"type": "new-patient", "preferred": "Mornings"},
    "POST /p/{patient}/appointments/{appointment}/cancel": {"confirm": "yes"},
}
VISITS = [
    (key, viewer)
    for key, entry in ROUTES.items()
    for viewer, relation in RELATIONS.items()
    if entry.who(relation, INFANT_AGE)
]
ITEM_ROUTES = [key for key, entry in ROUTES.items() if entry.items]
FRAGMENT_ROUTES = [key for key, entry in ROUTES.items() if FRAGMENT in entry.outputs]


@pytest.fixture
def world(app, session, settings):
    """The sample infant's record, imported, the clinic's calendar with a visit booked for the infant, and
    everyone who might look at it."""
    summary = import_paths(app.state.engine, [SAMPLE])
    assert summary.failed == [], summary.failed
    patient = session.exec(select(Patient)).one()
    people = {
        name: Person(display_name=f"{name} person", staff_role=name if name in STAFF else None)
        for name in (*ROLES, "stranger", "helper")
    }
    session.add_all(people.values())
    session.flush()
    patient.person_id = people["patient"].id
    assert patient.birth_date is not None
    for proxy, relationship in (("parent", "parent"), ("helper", "caregiver")):
        session.add(
            ProxyGrant(
                proxy_person_id=people[proxy].id,
                patient_id=patient.id,
                relationship=relationship,
                starts_on=patient.birth_date,
            )
        )
    for make in ITEM_MAKERS:  # the items of features' own tables (tests/route_registry.py)
        make(session, patient, "An item", False)
    add_bill(session, patient)
    add_paid_payment(session, patient)
    calendar(session, settings)
    booked_visit(session, patient)
    times = open_time_keys(session, settings)
    wait_list_offer(session, patient, people["parent"], times[1])
    session.commit()
    return {"patient": patient, "people": people, "times": times}


def item(session: Session, table: type, patient: Patient) -> str:
    """The public id of the patient's first row of `table`; for a grant, the helper's (ending it changes no
    one's access to the page)."""
    if table in ITEM_FINDERS:
        found = ITEM_FINDERS[table](session, patient, False)
        assert found is not None, f"the test world holds no {table.__name__} for its patient"
        return found
    query = select(table).where(table.patient_id == patient.id)  # type: ignore[attr-defined]
    if table is ProxyGrant:
        query = query.where(ProxyGrant.relationship == "caregiver")
    if table is RefillRequest and session.exec(query).first() is None:
        add_refill_request(session, patient)
    row = session.exec(query.order_by(table.id)).first()  # type: ignore[attr-defined]
    assert row is not None, f"the sample data holds no {table.__name__} for its patient"
    return str(row.public_id)


def add_refill_request(session: Session, patient: Patient) -> None:
    """A pending refill request of the patient's first medicine (the sample data holds none)."""
    medicine = session.exec(
        select(MedicationRequest).where(MedicationRequest.patient_id == patient.id)
    ).first()
    assert medicine is not None and medicine.id is not None and patient.id is not None
    session.add(RefillRequest(patient_id=patient.id, medication_id=medicine.id, days_left=3))
    session.flush()


def url_of(session: Session, key: str, patient: Patient, *, items_of: Patient | None = None) -> str:
    """The route's URL for `patient`, naming an item of `items_of` (the same patient unless given)."""
    url = key.split()[1].replace("{patient}", patient.public_id)
    for name, table in ROUTES[key].items.items():
        url = url.replace("{" + name + "}", item(session, table, items_of or patient))
    session.commit()  # end the read before the app takes SQLite's lock
    return url


def use(client, key: str, url: str, world: dict | None = None, **headers: str):
    if key.startswith("POST"):
        times = (world or {}).get("times") or ["none"]
        form = FORMS.get(key, {})
        form = form() if callable(form) else form
        form = {name: value.replace("{time}", times[0]) for name, value in form.items()}
        return form_post(client, url, form, headers=headers)
    return client.get(url, headers=headers)


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


@pytest.mark.parametrize(("key", "viewer"), VISITS, ids=[f"{key}-{viewer}" for key, viewer in VISITS])
def test_each_use_writes_its_event_naming_the_patient_actor_and_resource(
    app, client, session, world, key, viewer
) -> None:
    patient, person = world["patient"], world["people"][viewer]
    entry = ROUTES[key]
    url = url_of(session, key, patient)
    log_in(client, session, person)
    before = event_count(session)

    response = use(client, key, url, world)

    assert response.status_code == 200, f"{viewer} could not use {key} ({response.status_code})"
    written = events_after(session, before)
    if key.startswith("GET"):
        assert len(written) == 1, f"{key} wrote {len(written)} audit events for one visit"
    mine = [
        e
        for e in written
        if (e.patient_id, e.actor_person_id, e.actor_role, e.resource_type, e.action, e.outcome)
        == (patient.id, person.id, ROLES[viewer], entry.resource_type, entry.action, "allowed")
    ]
    seen = [(e.action, e.resource_type, e.actor_role, e.outcome) for e in written]
    assert mine, (
        f"{key} as {viewer} wrote no allowed {entry.action!r} event of {entry.resource_type!r} naming the "
        f"patient and {ROLES[viewer]}: {seen}"
    )
    if entry.items:
        assert all(e.resource_id for e in mine), f"{key} is about one item: its event must name it"


@pytest.mark.parametrize("key", sorted(ROUTES))
def test_a_refused_use_writes_one_denied_event(app, client, session, world, key) -> None:
    patient, stranger = world["patient"], world["people"]["stranger"]
    url = url_of(session, key, patient)
    log_in(client, session, stranger)
    before = event_count(session)

    response = use(client, key, url, world)

    assert response.status_code == 404
    written = events_after(session, before)
    assert [(e.patient_id, e.actor_person_id, e.outcome) for e in written] == [
        (patient.id, stranger.id, "denied")
    ]


@pytest.mark.parametrize("key", FRAGMENT_ROUTES)
def test_an_htmx_request_writes_one_event_too(app, client, session, world, key) -> None:
    viewer = next(viewer for route, viewer in VISITS if route == key)
    patient, person = world["patient"], world["people"][viewer]
    url = url_of(session, key, patient)
    log_in(client, session, person)
    before = event_count(session)

    response = use(client, key, url, world, **{"HX-Request": "true"})

    assert response.status_code == 200
    assert [(e.patient_id, e.resource_type) for e in events_after(session, before)] == [
        (patient.id, ROUTES[key].resource_type)
    ]


@pytest.mark.parametrize("key", ITEM_ROUTES)
def test_an_item_of_another_patient_answers_404_and_is_recorded_as_denied(
    app, client, session, world, key
) -> None:
    other_person = Person(display_name="Other patient")
    session.add(other_person)
    session.flush()
    other = Patient(fhir_id="other-patient", given_name="Otto", person_id=other_person.id)
    session.add(other)
    session.commit()
    url = url_of(session, key, other, items_of=world["patient"])
    log_in(client, session, other_person)
    before = event_count(session)

    response = use(client, key, url, world)

    assert response.status_code == 404, f"{key} showed another patient's item"
    assert [(e.patient_id, e.actor_person_id, e.outcome) for e in events_after(session, before)] == [
        (other.id, other_person.id, "denied")
    ]
