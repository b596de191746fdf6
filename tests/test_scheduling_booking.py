"""Booking through HTTP: a parent books for a child, sees the confirmation, cancels; mail has no details."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from portal.models import Appointment, FhirResource, OutboxMail, SlotHold
from portal.models.base import utcnow
from portal.services.scheduling.calendar import parse_key
from tests.conftest import form_post, log_in, make_person
from tests.scheduling_helpers import calendar, family


def first_time(client, child, code="sick"):
    page = client.get(f"/p/{child.public_id}/appointments/book?type={code}")
    assert page.status_code == 200
    found = re.findall(r'name="time" value="([^"]+)"', page.text)
    assert found, "no open times offered"
    return found


def beyond_the_notice(times: list[str]) -> list[str]:
    """The offered times two days away at least: a visit within the 24-hour cancel notice can no longer be
    cancelled online, so a test that cancels must not book the earliest time whatever the hour it runs."""
    soonest = utcnow() + timedelta(days=2)
    later = [key for key in times if (parsed := parse_key(key)) is not None and parsed[1] >= soonest]
    assert later, "no open time two days away"
    return later


def test_a_parent_books_a_visit_for_a_child_and_gets_mail_without_the_reason(
    client, session, settings
) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    times = first_time(client, child)

    response = form_post(
        client,
        f"/p/{child.public_id}/appointments/book",
        {"type": "sick", "time": times[0], "reason": "Cough since Tuesday"},
    )

    assert response.status_code == 200 and "Your visit is booked" in response.text
    assert "Dr " in response.text
    booked = session.exec(select(Appointment)).one()
    assert booked.patient_id == child.id and booked.reason == "Cough since Tuesday"
    assert session.exec(select(SlotHold)).all()
    assert session.exec(select(FhirResource).where(FhirResource.resource_type == "Appointment")).one()
    mail = session.exec(select(OutboxMail)).one()
    assert mail.to_address == "pat.parent@example.org"
    assert "Cough" not in mail.body and "Sick" not in mail.body and "Dr " in mail.body
    session.commit()


def test_a_taken_time_is_refused_and_the_next_times_shown(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    times = first_time(client, child)
    form_post(client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": times[0]})
    session.commit()

    again = form_post(client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": times[0]})

    assert again.status_code == 409
    assert "someone just took that time" in again.text
    assert times[0] not in again.text and times[1] in again.text
    assert len(session.exec(select(Appointment)).all()) == 1
    session.commit()


def test_cancel_asks_first_then_frees_the_time(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    times = beyond_the_notice(first_time(client, child))
    form_post(client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": times[0]})
    booked = session.exec(select(Appointment)).one()
    session.commit()
    url = f"/p/{child.public_id}/appointments/{booked.public_id}/cancel"

    asked = form_post(client, url)
    done = form_post(client, url, {"confirm": "yes"})

    assert "Cancel this visit?" in asked.text
    assert done.status_code == 200 and "The visit is cancelled" in done.text
    session.expire_all()
    assert session.exec(select(Appointment)).one().status == "cancelled"
    assert session.exec(select(SlotHold)).all() == []
    session.commit()
    assert times[0] in client.get(f"{url.split('/appointments/')[0]}/appointments/book?type=sick").text
    session.commit()


def test_bad_time_value_is_a_clear_400_and_stores_nothing(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)

    response = form_post(
        client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": "nonsense"}
    )

    assert response.status_code == 400 and "choose a time" in response.text.lower()
    assert session.exec(select(Appointment)).all() == []
    session.commit()


def test_an_ehr_appointment_shows_on_the_summary_and_the_appointments_page(client, session, settings) -> None:
    from datetime import UTC, datetime, timedelta

    from portal.services.scheduling import fhir_in

    parent, child = family(session)
    start = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    fhir_in.import_calendar(
        session,
        [
            {
                "resourceType": "Appointment",
                "id": "ehr-appt-1",
                "status": "booked",
                "start": start.isoformat(),
                "end": (start + timedelta(minutes=20)).isoformat(),
                "participant": [
                    {"actor": {"reference": f"Patient/{child.fhir_id}"}, "status": "accepted"},
                    {
                        "actor": {"reference": "Practitioner/pr-1", "display": "Dr Ehrlich"},
                        "status": "accepted",
                    },
                ],
            }
        ],
    )
    session.commit()
    log_in(client, session, parent)

    summary = client.get(f"/p/{child.public_id}/summary")
    listing = client.get(f"/p/{child.public_id}/appointments")

    booked = session.exec(select(Appointment)).one()
    assert f"/appointments/{booked.public_id}" in summary.text
    assert "Dr Ehrlich" in listing.text
    session.commit()


def test_a_limited_proxy_never_sees_a_teens_confidential_visit(client, session, settings) -> None:
    from datetime import date

    calendar(session, settings)
    parent, teen = family(session, child_born=date(2011, 1, 5))
    teen_person = make_person(session, display_name="Teen", email="teen@example.org")
    teen.person_id = teen_person.id
    session.add(teen)
    session.commit()
    log_in(client, session, teen_person)
    times = first_time(client, teen, code="teen-private")
    form_post(client, f"/p/{teen.public_id}/appointments/book", {"type": "teen-private", "time": times[0]})
    private = session.exec(select(Appointment)).one()
    row = session.exec(select(FhirResource).where(FhirResource.resource_type == "Appointment")).one()
    assert private.confidential and row.confidential_reason
    session.commit()
    log_in(client, session, parent)

    listing = client.get(f"/p/{teen.public_id}/appointments")
    item = client.get(f"/p/{teen.public_id}/appointments/{private.public_id}")
    calendar_file = client.get(f"/p/{teen.public_id}/appointments/{private.public_id}/calendar")
    booking = client.get(f"/p/{teen.public_id}/appointments/book")

    assert listing.status_code == 200 and private.public_id not in listing.text
    assert item.status_code == 404 and calendar_file.status_code == 404
    assert "Private teen visit" not in booking.text
