"""Granting, refusing and ending proxy access through the door: each change one audit event, a refusal
a code and nothing written, and who may end which grant decided by the access service."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlmodel import select

from portal.models import AuditEvent, Patient, Person, ProxyGrant
from portal.provenance import Provenance
from portal.services import access, families, proxies
from portal.services.access import AgeRules, Area, Asker, Level, Look

RULES = AgeRules()
TODAY = date(2026, 11, 21)
NOW = datetime(2026, 11, 21, 15, tzinfo=UTC)
GRANT = Look(Area.PROXIES, "proxy_grant", action="grant-proxy")


@pytest.fixture
def people(session):
    desk = Person(display_name="Front Desk", staff_role="front_desk")
    parent = Person(display_name="Maria Rivera", email="maria@example.org")
    adult = Person(display_name="Jon Adult")
    teen_person = Person(display_name="Tess Teen")
    session.add_all([desk, parent, adult, teen_person])
    session.flush()
    child = Patient(fhir_id="child-1", given_name="Ana", birth_date=date(2018, 3, 10))
    grown = Patient(fhir_id="adult-1", given_name="Jon", birth_date=date(1980, 1, 1), person_id=adult.id)
    teen = Patient(fhir_id="teen-1", given_name="Tess", birth_date=date(2011, 6, 1), person_id=teen_person.id)
    session.add_all([child, grown, teen])
    session.commit()
    return {
        "desk": desk,
        "parent": parent,
        "adult": adult,
        "teen_person": teen_person,
        "child": child,
        "grown": grown,
        "teen": teen,
    }


def asker(person):
    return Asker(person, TODAY, RULES, NOW, Provenance(route="test"))


def grant(session, people, *, by="desk", patient="child", **overrides):
    arguments = {"proxy": people["parent"], "relationship": "parent", "starts_on": TODAY}
    arguments.update(overrides)
    return access.act(
        session,
        asker(people[by]),
        people[patient].public_id,
        GRANT,
        proxies.add_grant,
        today=TODAY,
        rules=RULES,
        **arguments,
    )


def end(session, people, made, *, by):
    patient = session.get(Patient, made.patient_id)
    return access.act(
        session,
        asker(people[by]),
        patient.public_id,
        families.end_look(made.public_id),
        proxies.end_grant,
        made.public_id,
        today=TODAY,
        rules=RULES,
    )


def events(session, action):
    return session.exec(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_front_desk_grants_a_parent_access_and_it_is_audited_once(session, people) -> None:
    made = grant(session, people).data
    session.commit()

    [event] = events(session, "grant-proxy")
    assert (event.actor_person_id, event.patient_id, event.resource_id, event.outcome) == (
        people["desk"].id,
        people["child"].id,
        made.public_id,
        "allowed",
    )
    assert made.granted_by_person_id == people["desk"].id


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"relationship": "neighbour"}, "bad_relationship"),
        ({"level": "everything"}, "bad_level"),
        ({"beyond_majority": True}, "beyond_majority_needs_guardian"),
        ({"ends_on": TODAY}, "end_before_start"),
        ({"patient": "grown", "relationship": "parent"}, "parent_of_adult"),
        ({"proxy": "adult", "patient": "grown", "relationship": "caregiver"}, "own_proxy"),
        ({"proxy": "desk"}, "staff_cannot_be_proxy"),
    ],
)
def test_impossible_grants_are_refused_with_a_code_and_nothing_is_written(
    session, people, overrides, code
) -> None:
    patient = overrides.pop("patient", "child")
    if "proxy" in overrides:
        overrides["proxy"] = people[overrides["proxy"]]

    acted = grant(session, people, patient=patient, **overrides)
    session.commit()

    assert acted.refused is not None and acted.refused.code == code
    assert session.exec(select(ProxyGrant)).all() == []
    assert [event.outcome for event in events(session, "grant-proxy")] == ["denied"]


def test_a_second_grant_for_the_same_pair_is_refused(session, people) -> None:
    grant(session, people)

    again = grant(session, people)

    assert again.refused.code == "already_granted"


def test_a_patient_cannot_use_the_clinics_grant_door_for_someone_elses_record(session, people) -> None:
    acted = grant(session, people, by="adult", patient="child")

    assert acted is None
    assert session.exec(select(ProxyGrant)).all() == []


def test_ending_a_grant_removes_access_and_ending_it_again_changes_nothing(session, people) -> None:
    made = grant(session, people).data
    end(session, people, made, by="desk")
    first_end = session.get(ProxyGrant, made.id).revoked_at

    end(session, people, made, by="desk")
    session.commit()

    assert session.get(ProxyGrant, made.id).revoked_at == first_end
    assert len(events(session, "revoke-proxy")) == 2  # each attempt is audited


def test_a_grant_cannot_be_ended_through_another_patient(session, people) -> None:
    made = grant(session, people).data
    other = session.get(Patient, people["grown"].id)

    acted = access.act(
        session,
        asker(people["desk"]),
        other.public_id,
        families.end_look(made.public_id),
        proxies.end_grant,
        made.public_id,
        today=TODAY,
        rules=RULES,
    )

    assert acted is None and session.get(ProxyGrant, made.id).revoked_at is None


def test_after_revoking_a_new_grant_can_be_made(session, people) -> None:
    end(session, people, grant(session, people).data, by="desk")

    again = grant(session, people)

    assert again.data is not None and again.data.revoked_at is None


# ------------------------------------------------------------------- who may end which grant (verbs)


def test_a_teen_may_not_end_a_parents_grant_and_is_refused_with_a_code(session, people) -> None:
    made = grant(session, people, patient="teen").data

    acted = end(session, people, made, by="teen_person")
    session.commit()

    assert acted.refused.code == "teen_cannot_revoke"
    assert session.get(ProxyGrant, made.id).revoked_at is None
    assert [event.outcome for event in events(session, "revoke-proxy")] == ["denied"]


def test_a_teen_may_end_a_caregivers_grant(session, people) -> None:
    made = grant(session, people, patient="teen", relationship="caregiver").data

    acted = end(session, people, made, by="teen_person")

    assert acted.refused is None and session.get(ProxyGrant, made.id).revoked_at is not None


def test_holders_say_who_the_viewer_may_end(session, people) -> None:
    grant(session, people, patient="teen")
    grant(session, people, patient="grown", relationship="guardian")

    teen_view = access.read(
        session,
        asker(people["teen_person"]),
        people["teen"].public_id,
        Look(Area.PROXIES),
        proxies.holders,
        today=TODAY,
        rules=RULES,
    )
    adult_view = access.read(
        session,
        asker(people["adult"]),
        people["grown"].public_id,
        Look(Area.PROXIES),
        proxies.holders,
        today=TODAY,
        rules=RULES,
    )

    assert [(h.level, h.may_end, h.end_refusal) for h in teen_view.data] == [
        (Level.LIMITED, False, "teen_cannot_revoke")
    ]
    assert [(h.may_end, h.end_refusal) for h in adult_view.data] == [(True, None)]


def test_the_clinic_screen_is_for_the_front_desk_and_admins_only() -> None:
    roles = {role: Person(display_name=role, staff_role=role) for role in ("front_desk", "admin", "billing")}

    allowed = {role for role, person in roles.items() if access.may_use_screen(person, access.Screen.PROXIES)}

    assert allowed == {"front_desk", "admin"}
    assert not access.may_use_screen(Person(display_name="patient"), access.Screen.PROXIES)
