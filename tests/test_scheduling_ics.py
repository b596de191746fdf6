"""The calendar file of a booked visit opens in a calendar library as one event at the right time."""

from __future__ import annotations

import re

from icalendar import Calendar
from sqlmodel import select

from portal.models import Appointment
from tests.conftest import form_post, log_in
from tests.scheduling_helpers import calendar, family


def test_the_ics_is_one_event_at_the_booked_time_without_the_reason(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    chart = child.public_id
    log_in(client, session, parent)
    page = client.get(f"/p/{chart}/appointments/book?type=sick")
    key = re.findall(r'name="time" value="([^"]+)"', page.text)[0]
    form_post(client, f"/p/{chart}/appointments/book", {"type": "sick", "time": key, "reason": "Ear ache"})
    booked = session.exec(select(Appointment)).one()
    public_id, start, end = booked.public_id, booked.start_at, booked.end_at
    session.commit()

    response = client.get(f"/p/{chart}/appointments/{public_id}/calendar")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/calendar")
    events = Calendar.from_ical(response.content).walk("VEVENT")
    assert len(events) == 1
    assert events[0].decoded("DTSTART") == start and events[0].decoded("DTEND") == end
    assert b"Ear ache" not in response.content
