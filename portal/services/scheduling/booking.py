"""Booking, cancelling and rescheduling for a patient, through the patient scope.

Every function that reads or changes a patient's appointments takes the `PatientScope` the door made.
`visible` is the one visibility rule of appointments: every list, page, count, calendar file and FHIR
row goes through it, so a limited proxy never sees a teen's confidential visit by any path.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.models.people import Person
from portal.models.records import Encounter
from portal.models.scheduling import (
    Appointment,
    AppointmentRequest,
    ClinicLocation,
    Provider,
    SlotHold,
    VisitType,
    WaitListEntry,
    WeeklyHours,
)
from portal.services.access import Level, PatientScope, age_on
from portal.services.errors import Refused
from portal.services.scheduling import fhir_out, notices
from portal.services.scheduling.calendar import OpenTime, by_day, open_times, parse_key
from portal.services.scheduling.notices import Clinic

T = TypeVar("T")
NEXT_TIMES = 6  # how many next open times a refusal shows


def visible(query: SelectOfScalar[T], scope: PatientScope, table: Any = Appointment) -> SelectOfScalar[T]:
    """The appointments (or requests) of this patient this scope may see: a limited view never sees a
    confidential one."""
    query = query.where(table.patient_id == scope.patient_id)
    if not scope.sees_confidential:
        query = query.where(col(table.confidential).is_(False))
    return query


@dataclass(frozen=True)
class TypeChoice:
    visit_type: VisitType
    online: bool  # False: the patient asks and the front desk books


def _established(session: Session, scope: PatientScope) -> bool:
    """Seen before: a past visit in the record or a past appointment here."""
    seen = session.exec(
        select(Encounter.id).where(
            Encounter.patient_id == scope.patient_id, col(Encounter.start_at) < scope.now
        )
    ).first()
    booked = session.exec(
        select(Appointment.id).where(
            Appointment.patient_id == scope.patient_id,
            col(Appointment.start_at) < scope.now,
            Appointment.status != "cancelled",
        )
    ).first()
    return seen is not None or booked is not None


def type_choices(session: Session, scope: PatientScope) -> list[TypeChoice]:
    """The visit types this viewer may book online for this patient, or ask for (never a confidential
    type for a limited view)."""
    types = session.exec(select(VisitType).order_by(col(VisitType.name))).all()
    established = _established(session, scope)
    age = age_on(scope.patient.birth_date, scope.now.date()) if scope.patient.birth_date else None
    choices = []
    for visit_type in types:
        if visit_type.confidential and not scope.sees_confidential:
            continue
        if age is not None and (
            (visit_type.min_age is not None and age < visit_type.min_age)
            or (visit_type.max_age is not None and age > visit_type.max_age)
        ):
            continue
        online = (
            scope.staff
            or visit_type.online
            and (visit_type.established_patients if established else visit_type.new_patients)
            and (visit_type.proxies_may_book or scope.level is Level.SELF)
        )
        choices.append(TypeChoice(visit_type, bool(online)))
    return choices


def _choice(session: Session, scope: PatientScope, code: str) -> TypeChoice | None:
    return next((c for c in type_choices(session, scope) if c.visit_type.code == code), None)


@dataclass(frozen=True)
class BookingPage:
    choices: list[TypeChoice]
    chosen: TypeChoice | None
    days: list[tuple[Any, list[OpenTime]]] = field(default_factory=list)
    replacing: Appointment | None = None
    request: AppointmentRequest | None = None  # the front desk booking from a patient's request


def booking_page(
    session: Session,
    scope: PatientScope,
    clinic: Clinic,
    code: str,
    replacing: str | None = None,
    from_request: str | None = None,
) -> BookingPage | None:
    """The types to choose from and, once one is chosen, each day with open times; None for an unknown
    appointment being rescheduled. Staff booking from a request see its preferred times."""
    old = appointment_of(session, scope, replacing) if replacing else None
    if replacing and old is None:
        return None
    asked = request_of(session, scope, from_request) if from_request and scope.staff else None
    choices = type_choices(session, scope)
    chosen = next((c for c in choices if c.visit_type.code == code), None)
    if old is not None and chosen is None:
        chosen = next((c for c in choices if c.visit_type.id == old.visit_type_id), None)
    if chosen is None or not chosen.online:
        return BookingPage(choices, chosen, [], old, asked)
    times = open_times(session, chosen.visit_type, now=scope.now, tz=clinic.tz, ignore_notice=scope.staff)
    return BookingPage(choices, chosen, by_day(times, clinic.tz), old, asked)


def request_of(session: Session, scope: PatientScope, public_id: str | None) -> AppointmentRequest | None:
    """One open request of this patient that this scope may see."""
    if not public_id:
        return None
    return session.exec(
        visible(select(AppointmentRequest), scope, AppointmentRequest).where(
            AppointmentRequest.public_id == public_id, AppointmentRequest.status == "open"
        )
    ).first()


@dataclass(frozen=True)
class Booking:
    """What a booking form sends: the type and a time button's value, and an optional reason."""

    code: str
    time_key: str
    reason: str = ""
    replaces: str | None = None  # an appointment's public id, when rescheduling
    request: str | None = None  # the request the front desk books from (then marked booked)


@dataclass(frozen=True)
class Booked:
    appointment: Appointment
    provider: Provider
    place: ClinicLocation | None
    activation_code: str | None = None  # a first visit the front desk booked: the patient's code, shown once


def next_times(session: Session, scope: PatientScope, clinic: Clinic, code: str) -> list[OpenTime]:
    """The next open times of a type, for the page that says a time was just taken."""
    choice = _choice(session, scope, code)
    if choice is None or not choice.online:
        return []
    return open_times(session, choice.visit_type, now=scope.now, tz=clinic.tz, ignore_notice=scope.staff)[
        :NEXT_TIMES
    ]


def book(session: Session, scope: PatientScope, clinic: Clinic, booking: Booking) -> Booked:
    """Book the time for the patient: one appointment, its holds (unique: a time taken by someone else a
    moment ago refuses with "slot_taken"), its FHIR Appointment and the confirmation mail. Rescheduling
    cancels the old appointment in the same transaction."""
    choice = _choice(session, scope, booking.code)
    if choice is None:
        raise Refused("choose_type")
    if not choice.online:
        raise Refused("not_bookable_online")
    parsed = parse_key(booking.time_key)
    if parsed is None:
        raise Refused("choose_time")
    provider = session.exec(select(Provider).where(Provider.public_id == parsed[0])).first()
    if provider is None:
        raise Refused("choose_time")
    old = None
    if booking.replaces:
        old = appointment_of(session, scope, booking.replaces)
        if old is None or old.status != "booked":
            raise Refused("not_found")
        check_notice(session, clinic, scope, old)
    found = next(
        (
            t
            for t in open_times(
                session,
                choice.visit_type,
                now=scope.now,
                tz=clinic.tz,
                provider_id=provider.id,
                ignore_notice=scope.staff,
            )
            if t.start_at == parsed[1]
        ),
        None,
    )
    if found is None:
        raise Refused("slot_taken")
    if old is not None:
        release(session, old, reason=None)
    appointment = Appointment(
        patient_id=scope.patient_id,
        provider_id=provider.id,
        location_id=found.location.id if found.location else None,
        visit_type_id=choice.visit_type.id,
        start_at=found.start_at,
        end_at=found.end_at,
        source="staff" if scope.staff else "portal",
        reason=booking.reason.strip()[:2000] or None,
        confidential=choice.visit_type.confidential,
        video_url=choice.visit_type.video_url if choice.visit_type.video else None,
        booked_by_person_id=scope.viewer.id,
    )
    hold(session, appointment, found)
    fhir_out.store(session, appointment, choice.visit_type)
    if old is not None:
        _move_wait_list(session, old, appointment)
    asked = request_of(session, scope, booking.request) if booking.request and scope.staff else None
    if asked is not None:
        asked.status = "booked"
        asked.appointment_id = appointment.id
        session.add(asked)
    notices.booked(session, clinic, _mail_to(session, scope), appointment, provider, found.location)
    if not scope.staff:
        notices.desk_alert(session, "booked")
    return Booked(appointment, provider, found.location)


def hold(session: Session, appointment: Appointment, time: OpenTime) -> None:
    """Store the appointment and its holds in a savepoint: a unique clash means the time was just taken."""
    savepoint = session.begin_nested()
    try:
        session.add(appointment)
        session.flush()
        assert appointment.id is not None and time.provider.id is not None
        for start in time.units():
            session.add(
                SlotHold(provider_id=time.provider.id, starts_at=start, appointment_id=appointment.id)
            )
        session.flush()
    except IntegrityError:
        savepoint.rollback()
        raise Refused("slot_taken") from None
    savepoint.commit()


def release(
    session: Session, appointment: Appointment, *, reason: str | None, now: datetime | None = None
) -> None:
    """Cancel: free its holds (the time can be booked again at once) and mark the FHIR Appointment."""
    for row in session.exec(select(SlotHold).where(SlotHold.appointment_id == appointment.id)):
        session.delete(row)
    appointment.status = "cancelled"
    appointment.cancel_reason = reason
    appointment.cancelled_at = now or datetime.now(appointment.start_at.tzinfo)
    appointment.updated_at = appointment.cancelled_at
    session.add(appointment)
    session.flush()
    visit_type = session.get(VisitType, appointment.visit_type_id) if appointment.visit_type_id else None
    fhir_out.store(session, appointment, visit_type)


def _move_wait_list(session: Session, old: Appointment, new: Appointment) -> None:
    entry = session.exec(select(WaitListEntry).where(WaitListEntry.appointment_id == old.id)).first()
    if entry is not None:
        entry.status = "done"
        session.add(entry)


def _mail_to(session: Session, scope: PatientScope) -> Person | None:
    """Who is told: the person who booked (a parent for a child), or the patient's own account when the
    front desk booked."""
    if not scope.staff and scope.viewer.id is not None:
        return scope.viewer
    return session.get(Person, scope.patient.person_id) if scope.patient.person_id else None


def appointment_of(session: Session, scope: PatientScope, public_id: str | None) -> Appointment | None:
    """One appointment of this patient that this scope may see; None for another patient's."""
    if not public_id:
        return None
    return session.exec(visible(select(Appointment), scope).where(Appointment.public_id == public_id)).first()


def check_notice(session: Session, clinic: Clinic, scope: PatientScope, appointment: Appointment) -> None:
    """Inside the cancel notice, patients call the clinic (staff may still change it)."""
    if not within_notice(session, scope, appointment):
        raise Refused("inside_notice", phone=clinic.phone)


def within_notice(session: Session, scope: PatientScope, appointment: Appointment) -> bool:
    """Whether a patient may still change this appointment online."""
    visit_type = session.get(VisitType, appointment.visit_type_id) if appointment.visit_type_id else None
    hours = visit_type.cancel_notice_hours if visit_type else 24
    return scope.staff or appointment.start_at - scope.now >= timedelta(hours=hours)


def cancel(
    session: Session, scope: PatientScope, clinic: Clinic, public_id: str, reason: str = ""
) -> Appointment | None:
    """Cancel one of the patient's booked visits; "inside_notice" (call the clinic) when too late."""
    appointment = appointment_of(session, scope, public_id)
    if appointment is None:
        return None
    if appointment.status != "booked" or appointment.source == "ehr":
        raise Refused("cannot_cancel", phone=clinic.phone)
    if not within_notice(session, scope, appointment):
        raise Refused("inside_notice", phone=clinic.phone)
    release(session, appointment, reason=reason.strip()[:300] or None, now=scope.now)
    person = _mail_to(session, scope)
    if scope.staff and person is None and appointment.booked_by_person_id is not None:
        person = session.get(Person, appointment.booked_by_person_id)  # a child's parent who booked it
    notices.cancelled(session, clinic, person, appointment, by_clinic=scope.staff)
    if not scope.staff:
        notices.desk_alert(session, "cancelled")
    return appointment


def request_visit(
    session: Session, scope: PatientScope, code: str, preferred: str, reason: str
) -> AppointmentRequest:
    """A request for a visit type the patient may not book online: the front desk's queue."""
    choice = _choice(session, scope, code)
    if choice is None:
        raise Refused("choose_type")
    if not preferred.strip():
        raise Refused("say_preferred")
    request = AppointmentRequest(
        patient_id=scope.patient_id,
        visit_type_id=choice.visit_type.id,  # type: ignore[arg-type]
        preferred=preferred.strip()[:500],
        reason=reason.strip()[:2000] or None,
        confidential=choice.visit_type.confidential,
        requested_by_person_id=scope.viewer.id,
    )
    session.add(request)
    session.flush()
    notices.desk_alert(session, "request")
    return request


def unit_minutes(session: Session, provider: Provider, start: datetime) -> int:
    """The grid unit of the provider's weekly hours (what the holds are counted in)."""
    row = session.exec(select(WeeklyHours).where(WeeklyHours.provider_id == provider.id)).first()
    return row.unit_minutes if row is not None else 20


def confirm(session: Session, scope: PatientScope, clinic: Clinic, public_id: str) -> Appointment | None:
    """The patient (or proxy) says they will come, from the reminder's link."""
    appointment = appointment_of(session, scope, public_id)
    if appointment is None:
        return None
    if appointment.status != "booked":
        raise Refused("cannot_cancel", phone=clinic.phone)
    appointment.confirmed_at = scope.now
    session.add(appointment)
    session.flush()
    return appointment
