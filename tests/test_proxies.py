"""Granting, refusing and ending proxy access; each change audited; holders listed for the patient."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from portal.models import AuditEvent, Patient, Person
from portal.services.access import AgeRules, Level
from portal.services.proxies import GrantRefused, add_grant, end_grant, holders

RULES = AgeRules()
TODAY = date(2026, 11, 21)


@pytest.fixture
def people(session):
    desk = Person(display_name="Front Desk", staff_role="front_desk")
    parent = Person(display_name="Maria Rivera", email="maria@example.org")
    adult = Person(display_name="Jon Adult")
    session.add_all([desk, parent, adult])
    session.flush()
    child = Patient(fhir_id="child-1", given_name="Ana", birth_date=date(2018, 3, 10))
    grown = Patient(fhir_id="adult-1", given_name="Jon", birth_date=date(1980, 1, 1), person_id=adult.id)
    session.add_all([child, grown])
    session.commit()
    return {"desk": desk, "parent": parent, "adult": adult, "child": child, "grown": grown}


def grant(session, people, **overrides):
    arguments = {
        "proxy": people["parent"],
        "patient": people["child"],
        "relationship": "parent",
        "starts_on": TODAY,
        "granted_by": people["desk"],
        "today": TODAY,
        "rules": RULES,
    }
    arguments.update(overrides)
    return add_grant(session, **arguments)


def test_front_desk_grants_a_parent_access_and_it_is_audited(session, people) -> None:
    made = grant(session, people)
    session.commit()

    events = session.exec(select(AuditEvent).where(AuditEvent.action == "grant-proxy")).all()
    assert len(events) == 1
    assert (events[0].actor_person_id, events[0].patient_id, events[0].resource_id) == (
        people["desk"].id,
        people["child"].id,
        made.public_id,
    )
    assert [h.level for h in holders(session, people["child"], today=TODAY, rules=RULES)] == [Level.FULL]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"relationship": "neighbour"}, "relationship must be one of"),
        ({"level": "everything"}, "level must be one of"),
        ({"beyond_majority": True}, "only a guardian"),
        ({"ends_on": TODAY}, "end date must be after"),
        ({"patient": "grown", "relationship": "parent"}, "parent grant ends at 18"),
        ({"proxy": "adult", "patient": "grown", "relationship": "caregiver"}, "own proxy"),
        ({"proxy": "desk"}, "staff accounts"),
    ],
)
def test_impossible_grants_are_refused_and_nothing_is_written(session, people, overrides, message) -> None:
    overrides = {k: people[v] if k in ("proxy", "patient") else v for k, v in overrides.items()}

    with pytest.raises(GrantRefused, match=message):
        grant(session, people, **overrides)
    session.rollback()

    assert session.exec(select(AuditEvent)).all() == []


def test_a_second_grant_for_the_same_pair_is_refused(session, people) -> None:
    grant(session, people)

    with pytest.raises(GrantRefused, match="already has proxy access"):
        grant(session, people)


def test_ending_a_grant_removes_access_and_is_audited_once(session, people) -> None:
    made = grant(session, people)

    end_grant(session, made, patient=people["child"], ended_by=people["desk"])
    end_grant(session, made, patient=people["child"], ended_by=people["desk"])
    session.commit()

    assert [h.level for h in holders(session, people["child"], today=TODAY, rules=RULES)] == [None]
    revokes = session.exec(select(AuditEvent).where(AuditEvent.action == "revoke-proxy")).all()
    assert len(revokes) == 1


def test_a_grant_cannot_be_ended_through_another_patient(session, people) -> None:
    made = grant(session, people)

    with pytest.raises(GrantRefused, match="not for this patient"):
        end_grant(session, made, patient=people["grown"], ended_by=people["desk"])


def test_after_revoking_a_new_grant_can_be_made(session, people) -> None:
    end_grant(session, grant(session, people), patient=people["child"], ended_by=people["desk"])

    again = grant(session, people)

    assert again.revoked_at is None
