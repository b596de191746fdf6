"""Mail about appointments: the date, the time, the provider and the place only. Never the reason, the
visit type (it can say what the visit is about), a diagnosis or a video link."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import Session

from portal import i18n
from portal.config import Settings
from portal.i18n import gettext
from portal.models.people import Person
from portal.models.scheduling import Appointment, ClinicLocation, DeskAlert, Provider
from portal.services import mail


@dataclass(frozen=True)
class Clinic:
    """What appointment pages and mail need from the settings."""

    name: str
    phone: str
    tz: ZoneInfo
    origin: str
    reminder_days: tuple[int, ...]
    offer_hours: int
    video_opens_minutes: int = 15
    desk_email: str = ""  # the front desk's address for the digest of online bookings, cancels and asks

    @classmethod
    def of(cls, settings: Settings) -> Clinic:
        extra = settings.extra
        days = tuple(int(d) for d in extra.get("reminder_days", "3,1").split(",") if d.strip().isdigit())
        return cls(
            name=settings.clinic_name,
            phone=settings.clinic_phone,
            tz=settings.timezone,
            origin=settings.origin,
            reminder_days=days,
            offer_hours=int(extra.get("wait_list_offer_hours", "4")),
            desk_email=extra.get("front_desk_email", ""),
        )


def when_words(
    clinic: Clinic, appointment_start: datetime, provider: Provider | None, place: ClinicLocation | None
) -> str:
    """ "Tuesday, March 3, 2026 at 10:40 AM with Dr Chen at Main Street" in the reader's language."""
    day = i18n.format_date(appointment_start, "full", clinic.tz)
    hour = i18n.format_time(appointment_start, "short", clinic.tz)
    words = gettext("%(day)s at %(time)s") % {"day": day, "time": hour}
    if provider is not None:
        words += " " + gettext("with %(name)s") % {"name": provider.name}
    if place is not None:
        words += " " + gettext("at %(place)s") % {"place": place.name}
    return words


def _send(session: Session, person: Person | None, subject: str, lines: list[str]) -> None:
    if person is None or not person.email:
        return
    mail.enqueue(session, to=person.email, subject=subject, body="\n\n".join(lines) + "\n")


def booked(
    session: Session,
    clinic: Clinic,
    person: Person | None,
    appointment: Appointment,
    provider: Provider | None,
    place: ClinicLocation | None,
) -> None:
    if person is None:
        return
    with i18n.using(person.locale):
        when = when_words(clinic, appointment.start_at, provider, place)
        _send(
            session,
            person,
            gettext("Your visit at %(clinic)s") % {"clinic": clinic.name},
            [
                gettext("Your visit is booked: %(when)s.") % {"when": when},
                gettext("To see it, change it or cancel it, sign in to the portal: %(link)s")
                % {"link": clinic.origin + "/records"},
            ],
        )


def cancelled(
    session: Session, clinic: Clinic, person: Person | None, appointment: Appointment, *, by_clinic: bool
) -> None:
    """The visit was cancelled. When the clinic cancelled, its reason stays in the portal."""
    if person is None:
        return
    with i18n.using(person.locale):
        day = i18n.format_date(appointment.start_at, "full", clinic.tz)
        first = (
            gettext(
                "The clinic had to cancel your visit on %(day)s. Please sign in to the portal to see why."
            )
            if by_clinic
            else gettext("Your visit on %(day)s is cancelled.")
        ) % {"day": day}
        _send(
            session,
            person,
            gettext("A visit at %(clinic)s was cancelled") % {"clinic": clinic.name},
            [
                first,
                gettext("To book another time, sign in: %(link)s") % {"link": clinic.origin + "/records"},
            ],
        )


def reminder(
    session: Session,
    clinic: Clinic,
    person: Person,
    appointment: Appointment,
    provider: Provider | None,
    place: ClinicLocation | None,
    link: str,
) -> None:
    with i18n.using(person.locale):
        when = when_words(clinic, appointment.start_at, provider, place)
        _send(
            session,
            person,
            gettext("Reminder: your visit at %(clinic)s") % {"clinic": clinic.name},
            [
                gettext("This is a reminder of your visit: %(when)s.") % {"when": when},
                gettext("To confirm or cancel, sign in: %(link)s") % {"link": link},
            ],
        )


def offer(session: Session, clinic: Clinic, person: Person, link: str, hours: int) -> None:
    with i18n.using(person.locale):
        _send(
            session,
            person,
            gettext("An earlier visit is open at %(clinic)s") % {"clinic": clinic.name},
            [
                gettext("An earlier time for your visit is open. It is held for you for %(hours)s hours.")
                % {"hours": hours},
                gettext("To see it and take it, sign in: %(link)s") % {"link": link},
            ],
        )


def desk_alert(session: Session, kind: str) -> None:
    """Note for the front desk's next digest that a patient booked, cancelled or asked online."""
    session.add(DeskAlert(kind=kind))
