"""The schedule screen: a provider's day, blocking time, booking from a request in two taps, cancelling
with a reason (the patient told by mail without it), and the desk's alerts."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import select

from portal.models import Appointment, AppointmentRequest, DeskAlert, OutboxMail, ScheduleBlock
from portal.models.base import utcnow
from tests.conftest import form_post, log_in, make_person
from tests.scheduling_helpers import calendar, family


def front_desk(session):
    return make_person(session, display_name="Desk", email="desk@example.org", staff_role="front_desk")


def test_only_scheduling_staff_open_the_day_view(client, session, settings) -> None:
    calendar(session, settings)
    parent, _child = family(session)
    log_in(client, session, parent)

    assert client.get("/staff/schedule").status_code == 403


def test_the_day_shows_open_and_booked_times_and_a_block_closes_them(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    page = client.get(f"/p/{child.public_id}/appointments/book?type=sick")
    first = re.findall(r'name="time" value="([^"]+)"', page.text)[0]
    form_post(client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": first})
    session.commit()
    booked = session.exec(select(Appointment)).one()
    session.commit()
    desk = front_desk(session)
    log_in(client, session, desk)
    day = booked.start_at.astimezone(settings.timezone).date().isoformat()

    view = client.get(f"/staff/schedule?day={day}")
    provider = re.search(r'name="provider" value="([^"]+)"', view.text)
    # The first provider may not be the booked one: pick the day of the booked provider.
    from portal.models import Provider

    owner = session.get(Provider, booked.provider_id)
    session.commit()
    view = client.get(f"/staff/schedule?day={day}&provider={owner.public_id}")

    assert view.status_code == 200 and provider is not None
    assert "Kit Child" in view.text and "booked" in view.text and "open" in view.text

    blocked = form_post(
        client,
        "/staff/schedule/block",
        {"day": day, "provider": owner.public_id, "starts": "00:00", "ends": "23:59", "reason": "Training"},
    )
    assert blocked.status_code == 200 and "Training" in blocked.text
    session.expire_all()
    block = session.exec(select(ScheduleBlock).where(ScheduleBlock.kind == "block")).one()
    session.commit()
    log_in(client, session, parent)
    child_id = child.public_id
    session.commit()  # the read above would hold SQLite's lock while the page is asked for
    again = client.get(f"/p/{child_id}/appointments/book?type=sick")
    assert again.status_code == 200 and 'name="time"' in again.text
    assert first.split("|")[0] + "|" + day.replace("-", "") not in again.text

    log_in(client, session, desk)
    form_post(client, "/staff/schedule/unblock", {"block": block.public_id, "day": day})
    session.expire_all()
    assert session.exec(select(ScheduleBlock).where(ScheduleBlock.kind == "block")).first() is None
    session.commit()


def test_bad_block_times_are_refused_and_store_nothing(client, session, settings) -> None:
    calendar(session, settings)
    desk = front_desk(session)
    log_in(client, session, desk)
    view = client.get("/staff/schedule")
    provider = re.search(r'name="provider" value="([^"]+)"', view.text).group(1)

    refused = form_post(
        client, "/staff/schedule/block", {"provider": provider, "starts": "12:00", "ends": "09:00"}
    )

    assert refused.status_code == 400 and "start before the end" in refused.text
    assert session.exec(select(ScheduleBlock).where(ScheduleBlock.kind == "block")).first() is None
    session.commit()


def test_a_request_is_booked_from_the_queue_in_two_taps_and_alerts_the_desk(client, session, settings):
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    form_post(
        client,
        f"/p/{child.public_id}/appointments/request",
        {"type": "new-patient", "preferred": "Tuesday mornings"},
    )
    session.commit()
    assert [a.kind for a in session.exec(select(DeskAlert))] == ["request"]
    session.commit()
    log_in(client, session, front_desk(session))

    queue = client.get("/staff/schedule/requests")
    assert "Tuesday mornings" in queue.text and "Kit Child" in queue.text
    link = re.search(r'href="(/p/[^"]+request=[^"]+)"', queue.text).group(1).replace("&amp;", "&")
    page = client.get(link)  # tap one
    assert "Tuesday mornings" in page.text
    time = re.findall(r'name="time" value="([^"]+)"', page.text)[0]
    request_id = re.search(r'name="request" value="([^"]+)"', page.text).group(1)
    done = form_post(  # tap two: a time button
        client,
        f"/p/{child.public_id}/appointments/book",
        {"type": "new-patient", "time": time, "request": request_id},
    )

    assert done.status_code == 200
    session.expire_all()
    asked = session.exec(select(AppointmentRequest)).one()
    session.commit()
    assert asked.status == "booked" and asked.appointment_id is not None
    queue = client.get("/staff/schedule/requests")
    assert queue.status_code == 200 and "Tuesday mornings" not in queue.text


def test_staff_cancel_with_a_reason_the_mail_leaves_out(client, session, settings) -> None:
    calendar(session, settings)
    parent, child = family(session)
    log_in(client, session, parent)
    page = client.get(f"/p/{child.public_id}/appointments/book?type=sick")
    times = re.findall(r'name="time" value="([^"]+)"', page.text)
    late = next(t for t in times if _start(t) > utcnow() + timedelta(days=2))
    form_post(client, f"/p/{child.public_id}/appointments/book", {"type": "sick", "time": late})
    session.commit()
    booked = session.exec(select(Appointment)).one()
    session.commit()
    log_in(client, session, front_desk(session))

    asked = form_post(client, f"/p/{child.public_id}/appointments/{booked.public_id}/cancel", {})
    assert 'name="reason"' in asked.text
    done = form_post(
        client,
        f"/p/{child.public_id}/appointments/{booked.public_id}/cancel",
        {"confirm": "yes", "reason": "Doctor is ill"},
    )

    assert done.status_code == 200
    session.expire_all()
    cancelled = session.get(Appointment, booked.id)
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "Doctor is ill"
    mails = session.exec(select(OutboxMail).order_by(OutboxMail.id)).all()
    assert "had to cancel" in mails[-1].body and "ill" not in mails[-1].body
    session.commit()


def _start(key: str):
    from portal.services.scheduling.calendar import parse_key

    parsed = parse_key(key)
    assert parsed is not None
    return parsed[1]
