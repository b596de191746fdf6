"""The access rules: who may see what of whose chart, on a frozen clock, and that each decision is audited."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, select

from portal.models import AuditEvent, Patient, Person, ProxyGrant
from portal.provenance import Provenance
from portal.services.access import (
    AgeRules,
    Area,
    Asker,
    Level,
    Look,
    age_on,
    decide,
    patients_for,
    read,
)

RULES = AgeRules()
TODAY = date(2026, 11, 21)


def add(session: Session, row):
    session.add(row)
    session.flush()
    return row


def make_patient(session: Session, given: str, birth_date: date, person: Person | None = None) -> Patient:
    return add(
        session,
        Patient(
            fhir_id=f"p-{given.lower()}",
            given_name=given,
            family_name="Rivera",
            birth_date=birth_date,
            person_id=person.id if person else None,
        ),
    )


def grant(
    session: Session, proxy: Person, patient: Patient, relationship: str = "parent", **kw
) -> ProxyGrant:
    return add(
        session,
        ProxyGrant(
            proxy_person_id=proxy.id,
            patient_id=patient.id,
            relationship=relationship,
            starts_on=kw.pop("starts_on", date(2000, 1, 1)),
            **kw,
        ),
    )


@pytest.fixture
def family(session: Session) -> dict[str, object]:
    parent = add(session, Person(display_name="Maria Rivera"))
    teen_person = add(session, Person(display_name="Sofia Rivera"))
    stranger = add(session, Person(display_name="Unrelated Adult"))
    old_proxy = add(session, Person(display_name="Former Caregiver"))
    lapsed = add(session, Person(display_name="Lapsed Caregiver"))
    staff = {
        role: add(session, Person(display_name=f"Staff {role}", staff_role=role))
        for role in ("front_desk", "clinician", "billing", "admin")
    }
    infant = make_patient(session, "Lucas", date(2026, 5, 1))
    child = make_patient(session, "Ana", date(2018, 3, 10))
    teen = make_patient(session, "Sofia", date(2011, 6, 15), person=teen_person)
    parent_patient = make_patient(session, "Maria", date(1990, 1, 2), person=parent)
    other = make_patient(session, "Other", date(2015, 1, 1))
    for kid in (infant, child, teen):
        grant(session, parent, kid)
    grant(session, old_proxy, child, "caregiver", revoked_at=datetime(2026, 1, 1, tzinfo=UTC))
    grant(session, lapsed, child, "caregiver", ends_on=date(2026, 1, 1))
    session.commit()
    return {
        "parent": parent,
        "teen_person": teen_person,
        "stranger": stranger,
        "old_proxy": old_proxy,
        "lapsed": lapsed,
        "staff": staff,
        "infant": infant,
        "child": child,
        "teen": teen,
        "parent_patient": parent_patient,
        "other": other,
    }


def level(session, person, patient, area=Area.RECORD, today=TODAY):
    decision = decide(session, person, patient, area, today=today, rules=RULES)
    return decision.level if decision.allowed else None


def test_parent_has_full_access_to_young_children(session, family) -> None:
    assert level(session, family["parent"], family["infant"]) is Level.FULL
    assert level(session, family["parent"], family["child"]) is Level.FULL


def test_parent_has_limited_access_to_a_teen_who_sees_everything_themself(session, family) -> None:
    parent_view = decide(session, family["parent"], family["teen"], Area.RECORD, today=TODAY, rules=RULES)
    teen_view = decide(session, family["teen_person"], family["teen"], Area.RECORD, today=TODAY, rules=RULES)

    assert parent_view.level is Level.LIMITED and not parent_view.sees_confidential
    assert not parent_view.sees_patient_messages
    assert teen_view.level is Level.SELF and teen_view.sees_confidential


def test_access_turns_limited_on_the_12th_birthday(session, family) -> None:
    child = family["child"]  # born 2018-03-10

    assert level(session, family["parent"], child, today=date(2030, 3, 9)) is Level.FULL
    assert level(session, family["parent"], child, today=date(2030, 3, 10)) is Level.LIMITED


def test_parent_access_ends_on_the_18th_birthday(session, family) -> None:
    teen = family["teen"]  # born 2011-06-15

    assert level(session, family["parent"], teen, today=date(2029, 6, 14)) is Level.LIMITED
    assert level(session, family["parent"], teen, today=date(2029, 6, 15)) is None


def test_a_guardian_grant_beyond_majority_continues_at_18(session, family) -> None:
    guardian = add(session, Person(display_name="Court Guardian"))
    grant(session, guardian, family["teen"], "guardian", beyond_majority=True)

    assert level(session, guardian, family["teen"], today=date(2029, 6, 15)) is Level.FULL


def test_revoked_expired_and_future_grants_give_nothing(session, family) -> None:
    future = add(session, Person(display_name="Future Caregiver"))
    grant(session, future, family["child"], "caregiver", starts_on=date(2027, 1, 1))

    assert level(session, family["old_proxy"], family["child"]) is None
    assert level(session, family["lapsed"], family["child"]) is None
    assert level(session, future, family["child"]) is None


def test_unrelated_person_and_other_patients_are_denied(session, family) -> None:
    assert level(session, family["stranger"], family["child"]) is None
    assert level(session, family["parent"], family["other"]) is None


def test_an_adult_caregiver_has_the_granted_level(session, family) -> None:
    helper = add(session, Person(display_name="Adult Helper"))
    grant(session, helper, family["parent_patient"], "caregiver", level="limited")

    assert level(session, helper, family["parent_patient"]) is Level.LIMITED


def test_proxies_never_manage_proxies_or_read_the_access_log(session, family) -> None:
    assert level(session, family["parent"], family["infant"], Area.PROXIES) is None
    assert level(session, family["parent"], family["infant"], Area.AUDIT) is None
    assert level(session, family["teen_person"], family["teen"], Area.AUDIT) is Level.SELF


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("clinician", {Area.RECORD, Area.MESSAGES, Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS}),
        ("front_desk", {Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS, Area.PROXIES, Area.MESSAGES}),
        ("billing", {Area.BILLING, Area.DEMOGRAPHICS, Area.MESSAGES}),
        ("admin", {Area.AUDIT, Area.PROXIES, Area.DEMOGRAPHICS}),
    ],
)
def test_staff_roles_see_what_their_job_needs(session, family, role, allowed) -> None:
    person = family["staff"][role]

    granted = {area for area in Area if level(session, person, family["teen"], area) is Level.STAFF}

    assert granted == allowed


def test_a_disabled_account_sees_nothing(session, family) -> None:
    family["parent"].disabled = True

    assert level(session, family["parent"], family["infant"]) is None


def test_reading_through_the_door_audits_allowed_and_denied_attempts(session, family) -> None:
    where = Provenance(route="results_list")
    now = datetime(2026, 11, 21, 12, tzinfo=UTC)

    allowed = read(
        session,
        Asker(family["parent"], TODAY, RULES, now, where),
        family["teen"].public_id,
        Look(Area.RECORD, "Observation", "obs-1"),
        lambda session, scope: scope.patient_id,
    )
    denied = read(
        session,
        Asker(family["stranger"], TODAY, RULES, now, where),
        family["child"].public_id,
        Look(Area.RECORD),
        lambda session, scope: scope.patient_id,
    )
    session.commit()

    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [(e.actor_person_id, e.patient_id, e.outcome, e.actor_role) for e in events] == [
        (family["parent"].id, family["teen"].id, "allowed", "proxy"),
        (family["stranger"].id, family["child"].id, "denied", "proxy"),
    ]
    assert events[0].on_behalf_of_person_id == family["teen_person"].id
    assert events[0].resource_type == "Observation" and events[0].resource_id == "obs-1"
    assert allowed is not None and allowed.data == family["teen"].id and denied is None


def test_switcher_lists_self_then_children_by_name(session, family) -> None:
    listed = patients_for(session, family["parent"], today=TODAY, rules=RULES)

    assert [(p.given_name, lvl) for p, lvl in listed] == [
        ("Maria", Level.SELF),
        ("Ana", Level.FULL),
        ("Lucas", Level.FULL),
        ("Sofia", Level.LIMITED),
    ]


def test_switcher_drops_a_child_on_their_18th_birthday(session, family) -> None:
    listed = patients_for(session, family["parent"], today=date(2029, 6, 15), rules=RULES)

    assert "Sofia" not in [p.given_name for p, _ in listed]


@pytest.mark.parametrize(
    ("born", "today", "age"),
    [
        (date(2010, 2, 28), date(2026, 2, 28), 16),
        (date(2008, 2, 29), date(2026, 2, 28), 17),
        (date(2008, 2, 29), date(2026, 3, 1), 18),
        (date(2026, 11, 21), date(2026, 11, 21), 0),
    ],
)
def test_age_on(born, today, age) -> None:
    assert age_on(born, today) == age


def load_name(session, scope):
    return scope.patient.given_name


def events(session):
    return session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()


def asker(person, route=None):
    return Asker(person, TODAY, RULES, datetime(2026, 3, 1, 12, tzinfo=UTC), Provenance(route=route))


def test_read_loads_and_audits_one_allowed_view(session, family) -> None:
    opened = read(
        session,
        asker(family["parent"], "summary_page"),
        family["child"].public_id,
        Look(Area.RECORD, "Summary"),
        load_name,
    )
    session.commit()

    assert opened is not None and opened.data == "Ana" and opened.scope.level is Level.FULL
    logged = events(session)
    assert len(logged) == 1
    assert (logged[0].outcome, logged[0].patient_id, logged[0].route) == (
        "allowed",
        family["child"].id,
        "summary_page",
    )


def test_read_for_someone_elses_child_is_none_and_audited_as_denied(session, family) -> None:
    loaded = []

    opened = read(
        session,
        asker(family["stranger"]),
        family["child"].public_id,
        Look(Area.RECORD),
        lambda s, scope: loaded.append(scope) or "x",
    )
    session.commit()

    assert opened is None and loaded == []  # nothing was even read
    assert [(e.outcome, e.patient_id) for e in events(session)] == [("denied", family["child"].id)]


def test_read_of_a_record_of_another_patient_looks_missing(session, family) -> None:
    opened = read(
        session,
        asker(family["parent"]),
        family["child"].public_id,
        Look(Area.RECORD, "Observation", "belongs-to-someone-else"),
        lambda s, scope: None,
    )
    session.commit()

    assert opened is None
    assert [(e.outcome, e.resource_id) for e in events(session)] == [("denied", "belongs-to-someone-else")]


def test_read_with_an_unknown_patient_id_is_none_and_audited(session, family) -> None:
    opened = read(session, asker(family["parent"]), "no-such-patient", Look(Area.RECORD), load_name)
    session.commit()

    assert opened is None
    assert [(e.outcome, e.patient_id, e.actor_person_id) for e in events(session)] == [
        ("denied", None, family["parent"].id)
    ]
