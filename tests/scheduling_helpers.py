"""Shared set-up for the scheduling tests: the demo calendar, a family, a clock."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.models.scheduling import (
    Appointment,
    ClinicLocation,
    Provider,
    VisitType,
    WaitListEntry,
    WaitListOffer,
)
from portal.services.scheduling.calendar import open_times, parse_key
from portal.services.scheduling.seed import seed_calendar
from tests.conftest import make_patient, make_person


def calendar(session: Session, settings) -> None:
    seed_calendar(
        session, tz=settings.timezone, today=settings.today(), video_url="https://video.example/room"
    )
    session.commit()


def family(session: Session, *, child_born: date = date(2019, 5, 1)):
    """A parent with full access to a child, as the clinic sets it up."""
    parent = make_person(session, display_name="Pat Parent", email="pat.parent@example.org")
    child = make_patient(session, given_name="Kit", family_name="Child", birth_date=child_born)
    session.add(
        ProxyGrant(
            proxy_person_id=parent.id, patient_id=child.id, relationship="parent", starts_on=child_born
        )
    )
    session.commit()
    return parent, child


def booked_visit(
    session: Session,
    patient,
    *,
    days_ahead: int = 10,
    code: str = "sick",
    confidential: bool = False,
    reason: str | None = None,
) -> Appointment:
    """A booked visit of the patient on the demo calendar, well outside the cancel notice."""
    provider = session.exec(select(Provider).order_by(Provider.id)).first()  # type: ignore[arg-type]
    place = session.exec(select(ClinicLocation).order_by(ClinicLocation.id)).first()  # type: ignore[arg-type]
    visit_type = session.exec(select(VisitType).where(VisitType.code == code)).one()
    assert provider is not None and place is not None, "seed the calendar first"
    start = (utcnow() + timedelta(days=days_ahead)).replace(minute=0, second=0, microsecond=0)
    appointment = Appointment(
        patient_id=patient.id,
        provider_id=provider.id,
        location_id=place.id,
        visit_type_id=visit_type.id,
        start_at=start,
        end_at=start + timedelta(minutes=visit_type.minutes),
        confidential=confidential or visit_type.confidential,
        reason=reason,
    )
    session.add(appointment)
    session.flush()
    return appointment


def open_time_keys(session: Session, settings, code: str = "sick") -> list[str]:
    """What the time buttons of the booking page post now, soonest first."""
    visit_type = session.exec(select(VisitType).where(VisitType.code == code)).one()
    keys = [t.key for t in open_times(session, visit_type, now=utcnow(), tz=settings.timezone)]
    session.commit()
    return keys


def wait_list_offer(session: Session, patient, person, time_key: str) -> WaitListOffer:
    """A second booked visit of the patient on the wait list, offered the earlier time `time_key`."""
    later = booked_visit(session, patient, days_ahead=40)
    entry = WaitListEntry(patient_id=patient.id, appointment_id=later.id, person_id=person.id)
    session.add(entry)
    session.flush()
    parsed = parse_key(time_key)
    assert parsed is not None
    provider = session.exec(select(Provider).where(Provider.public_id == parsed[0])).one()
    offer = WaitListOffer(
        entry_id=entry.id,
        patient_id=patient.id,
        provider_id=provider.id,
        location_id=later.location_id,
        start_at=parsed[1],
        end_at=parsed[1] + (later.end_at - later.start_at),
        expires_at=utcnow() + timedelta(hours=4),
    )
    session.add(offer)
    session.flush()
    return offer
