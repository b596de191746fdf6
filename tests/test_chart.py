"""Opening a chart by its URL: banner, switcher, 404 for anyone else's, one audit event each time."""

from __future__ import annotations

from datetime import date

import pytest
from sqlmodel import select

from portal.models import AuditEvent, Patient, Person, ProxyGrant
from tests.conftest import log_in


@pytest.fixture
def family(session):
    parent = Person(display_name="Maria Rivera")
    stranger = Person(display_name="Unrelated Adult")
    session.add_all([parent, stranger])
    session.flush()
    child = Patient(fhir_id="c1", given_name="Ana", family_name="Rivera", birth_date=date(2018, 3, 10))
    teen = Patient(fhir_id="t1", given_name="Sofia", family_name="Rivera", birth_date=date(2011, 6, 15))
    other = Patient(fhir_id="o1", given_name="Otto", family_name="Other", birth_date=date(2015, 1, 1))
    session.add_all([child, teen, other])
    session.flush()
    for kid in (child, teen):
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id,
                patient_id=kid.id,
                relationship="parent",
                starts_on=date(2000, 1, 1),
            )
        )
    session.commit()
    return {"parent": parent, "stranger": stranger, "child": child, "teen": teen, "other": other}


def audit_events(session):
    session.expire_all()
    events = session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    session.commit()
    return events


def test_a_parent_sees_the_childs_banner_with_name_and_age(client, session, family) -> None:
    log_in(client, session, family["parent"])

    response = client.get(f"/p/{family['child'].public_id}/summary")

    assert response.status_code == 200
    assert "Record of" in response.text and "Ana Rivera" in response.text
    assert "years old" in response.text
    assert response.headers["cache-control"] == "no-store"


def test_the_switcher_lists_every_child_with_their_age(client, session, family) -> None:
    log_in(client, session, family["parent"])

    page = client.get(f"/p/{family['child'].public_id}/summary").text

    assert f"/p/{family['teen'].public_id}/summary" in page and "Sofia Rivera" in page
    assert f"/p/{family['other'].public_id}" not in page


def test_a_teens_banner_tells_the_parent_some_items_are_private(client, session, family) -> None:
    log_in(client, session, family["parent"])

    page = client.get(f"/p/{family['teen'].public_id}/summary").text

    assert "private to this teen" in page


def test_someone_elses_chart_answers_exactly_like_a_missing_one(client, session, family) -> None:
    log_in(client, session, family["stranger"])

    forbidden = client.get(f"/p/{family['child'].public_id}/summary")
    missing = client.get("/p/no-such-patient/summary")

    assert forbidden.status_code == missing.status_code == 404
    assert forbidden.text.replace(forbidden.headers["x-request-id"], "") == missing.text.replace(
        missing.headers["x-request-id"], ""
    )
    assert "Ana" not in forbidden.text


def test_each_chart_view_writes_one_audit_event_and_denials_are_kept(client, session, family) -> None:
    log_in(client, session, family["parent"])
    client.get(f"/p/{family['child'].public_id}/summary")
    client.get(f"/p/{family['other'].public_id}/summary")

    events = [e for e in audit_events(session) if e.route == "summary_page"]

    assert [(e.patient_id, e.outcome, e.actor_person_id) for e in events] == [
        (family["child"].id, "allowed", family["parent"].id),
        (family["other"].id, "denied", family["parent"].id),
    ]


def test_signed_out_visitors_are_sent_to_sign_in_and_nothing_is_read(client, family) -> None:
    response = client.get(f"/p/{family['child'].public_id}/summary", follow_redirects=False)

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/p/")


def test_the_records_page_lists_everyone_and_a_single_record_opens_directly(client, session, family) -> None:
    log_in(client, session, family["parent"])

    listing = client.get("/records")

    assert "Ana Rivera" in listing.text and "Sofia Rivera" in listing.text
