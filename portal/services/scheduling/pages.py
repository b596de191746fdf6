"""What the appointment pages show: readers that take the patient scope, all through `booking.visible`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from icalendar import Calendar, Event
from sqlmodel import Session, col, select

from portal.models.scheduling import Appointment, ClinicLocation, Provider, VisitType, WaitListEntry
from portal.services.access import PatientScope
from portal.services.scheduling.booking import appointment_of, visible, within_notice
from portal.services.scheduling.notices import Clinic


@dataclass(frozen=True)
class Visit:
    """One appointment as a page shows it."""

    appointment: Appointment
    provider: Provider | None
    place: ClinicLocation | None
    visit_type: VisitType | None
    changeable: bool  # still outside the cancel notice, and booked here
    on_wait_list: bool
    join_link: str | None  # a video visit's link, from 15 minutes before its start only

    @property
    def public_id(self) -> str:
        return self.appointment.public_id

    @property
    def start_at(self) -> datetime:
        return self.appointment.start_at

    @property
    def display(self) -> str:
        return self.visit_type.name if self.visit_type else (self.provider.name if self.provider else "")


def _visits(session: Session, scope: PatientScope, clinic: Clinic, rows: list[Appointment]) -> list[Visit]:
    providers = {p.id: p for p in session.exec(select(Provider))}
    places = {p.id: p for p in session.exec(select(ClinicLocation))}
    types = {t.id: t for t in session.exec(select(VisitType))}
    waiting = set(
        session.exec(
            select(WaitListEntry.appointment_id).where(
                WaitListEntry.patient_id == scope.patient_id, WaitListEntry.status == "waiting"
            )
        )
    )
    found = []
    for row in rows:
        opens = row.start_at - timedelta(minutes=clinic.video_opens_minutes)
        live = row.status == "booked" and opens <= scope.now <= row.end_at
        found.append(
            Visit(
                row,
                providers.get(row.provider_id),
                places.get(row.location_id),
                types.get(row.visit_type_id),
                row.status == "booked" and row.source != "ehr" and within_notice(session, scope, row),
                row.id in waiting,
                row.video_url if live and row.video_url else None,
            )
        )
    return found


@dataclass(frozen=True)
class AppointmentsPage:
    upcoming: list[Visit]
    past: list[Visit]  # past and cancelled, newest first


def appointments_page(session: Session, scope: PatientScope, clinic: Clinic) -> AppointmentsPage:
    rows = list(session.exec(visible(select(Appointment), scope).order_by(col(Appointment.start_at))))
    upcoming = [r for r in rows if r.status == "booked" and r.end_at > scope.now]
    past = [r for r in reversed(rows) if r not in upcoming][:50]
    return AppointmentsPage(_visits(session, scope, clinic, upcoming), _visits(session, scope, clinic, past))


def appointment_page(session: Session, scope: PatientScope, clinic: Clinic, public_id: str) -> Visit | None:
    found = appointment_of(session, scope, public_id)
    return _visits(session, scope, clinic, [found])[0] if found else None


def upcoming(session: Session, scope: PatientScope, clinic: Clinic, limit: int = 5) -> list[Visit]:
    """The next booked visits, for the summary page."""
    rows = session.exec(
        visible(select(Appointment), scope)
        .where(Appointment.status == "booked", col(Appointment.start_at) > scope.now)
        .order_by(col(Appointment.start_at))
        .limit(limit)
    ).all()
    return _visits(session, scope, clinic, list(rows))


def upcoming_booked(session: Session, scope: PatientScope, days: int = 7) -> list[Appointment]:
    """Booked visits in the next `days` days (for online check-in: `Appointment.checked_in_at`)."""
    return list(
        session.exec(
            visible(select(Appointment), scope)
            .where(
                Appointment.status == "booked",
                col(Appointment.start_at) > scope.now,
                col(Appointment.start_at) <= scope.now + timedelta(days=days),
            )
            .order_by(col(Appointment.start_at))
        )
    )


def calendar_file(session: Session, scope: PatientScope, clinic: Clinic, public_id: str) -> bytes | None:
    """The visit as one iCalendar event: when, with whom, where; no reason, no visit type, no link."""
    visit = appointment_page(session, scope, clinic, public_id)
    if visit is None or visit.appointment.status != "booked":
        return None
    calendar = Calendar()
    calendar.add("prodid", "-//Patient portal//appointments//EN")
    calendar.add("version", "2.0")
    event = Event()
    event.add("uid", f"{visit.appointment.fhir_id}@portal")
    event.add("dtstamp", scope.now)
    event.add("dtstart", visit.appointment.start_at)
    event.add("dtend", visit.appointment.end_at)
    summary = clinic.name + (f": {visit.provider.name}" if visit.provider else "")
    event.add("summary", summary)
    if visit.place is not None:
        event.add("location", ", ".join(p for p in (visit.place.name, visit.place.address) if p))
    calendar.add_component(event)
    return bytes(calendar.to_ical())
