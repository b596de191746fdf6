"""The schedule screen for staff: a day per provider and location (booked, open, blocked), blocking and
unblocking time, and the queue of appointment requests.

Only staff whose role opens `Screen.SCHEDULE` get here (`access.require_screen`). Each patient the screen
shows is one audit event ("view" of that Appointment or AppointmentRequest), in the caller's transaction,
as the front desk's patient search does. Booking and cancelling for a patient go through the patient's
chart (the door), from links on this screen.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from portal.models.people import Patient, Person, StaffRole
from portal.models.scheduling import (
    Appointment,
    AppointmentRequest,
    ClinicLocation,
    Provider,
    ScheduleBlock,
    SlotHold,
    VisitType,
    WeeklyHours,
)
from portal.provenance import Provenance
from portal.services import access, audit
from portal.services.access import Screen
from portal.services.errors import Refused
from portal.services.scheduling.calendar import local_day_bounds

MAX_BLOCK = timedelta(days=31)
MAX_QUEUE = 100


@dataclass(frozen=True)
class Row:
    """One grid unit of the day: open, booked (with whom) or blocked (why)."""

    start_at: datetime
    status: str  # open, booked, blocked
    patient_public_id: str | None = None
    patient_name: str | None = None
    appointment_public_id: str | None = None
    visit_name: str | None = None  # None for a confidential visit the viewer may not see the kind of
    block_public_id: str | None = None
    block_reason: str | None = None
    checked_in_online: bool = False  # the patient (or a parent) sent the online check-in for this visit


@dataclass(frozen=True)
class DayView:
    day: date
    providers: list[Provider]
    locations: list[ClinicLocation]
    provider: Provider | None
    location: ClinicLocation | None
    rows: list[Row]
    blocks: list[ScheduleBlock]
    may_review_checkins: bool = False  # the viewer's role opens the check-in review (Screen.REGISTRATION)


def _audit_shown(
    session: Session, staff: Person, patient_id: int, resource_type: str, public_id: str, where: Provenance
) -> None:
    audit.record(
        session,
        action="view",
        actor_person_id=staff.id,
        actor_role=staff.staff_role,
        patient_id=patient_id,
        resource_type=resource_type,
        resource_id=public_id,
        provenance=where,
    )


def day_view(
    session: Session,
    staff: Person,
    *,
    day: date,
    provider_id: str,
    location_id: str,
    tz: ZoneInfo,
    provenance: Provenance,
) -> DayView:
    """The provider's hours at the location that day, unit by unit, and the day's blocks."""
    access.require_screen(staff, Screen.SCHEDULE)
    providers = list(session.exec(select(Provider).order_by(col(Provider.name))))
    locations = list(session.exec(select(ClinicLocation).order_by(col(ClinicLocation.name))))
    provider = next((p for p in providers if p.public_id == provider_id), providers[0] if providers else None)
    location = next(
        (loc for loc in locations if loc.public_id == location_id), locations[0] if locations else None
    )
    if provider is None or location is None:
        return DayView(day, providers, locations, provider, location, [], [])
    start, end = local_day_bounds(day, tz)
    blocks = list(
        session.exec(
            select(ScheduleBlock)
            .where(
                (col(ScheduleBlock.provider_id) == provider.id) | col(ScheduleBlock.provider_id).is_(None),
                col(ScheduleBlock.start_at) < end,
                col(ScheduleBlock.end_at) > start,
            )
            .order_by(col(ScheduleBlock.start_at))
        )
    )
    held = {
        hold.starts_at: appointment
        for hold, appointment in session.exec(
            select(SlotHold, Appointment)
            .join(Appointment, col(Appointment.id) == SlotHold.appointment_id)
            .where(
                SlotHold.provider_id == provider.id,
                col(SlotHold.starts_at) >= start,
                col(SlotHold.starts_at) < end,
            )
        )
    }
    sees_confidential = staff.staff_role == StaffRole.CLINICIAN
    rows: list[Row] = []
    shown: set[str] = set()
    for hours in session.exec(
        select(WeeklyHours).where(
            WeeklyHours.provider_id == provider.id,
            WeeklyHours.location_id == location.id,
            WeeklyHours.weekday == day.weekday(),
        )
    ):
        if (hours.valid_from and day < hours.valid_from) or (hours.valid_until and day > hours.valid_until):
            continue
        unit = timedelta(minutes=hours.unit_minutes)
        moment = _local(day, hours.starts, tz)
        closes = _local(day, hours.ends, tz)
        while moment + unit <= closes:
            rows.append(_row(session, staff, moment, held, blocks, sees_confidential, shown, provenance))
            moment += unit
    rows.sort(key=lambda row: row.start_at)
    may_review = access.may_use_screen(staff, Screen.REGISTRATION)
    return DayView(day, providers, locations, provider, location, rows, blocks, may_review)


def _local(day: date, clock: str, tz: ZoneInfo) -> datetime:
    hours, _, minutes = clock.partition(":")
    return datetime(day.year, day.month, day.day, int(hours), int(minutes), tzinfo=tz).astimezone(
        ZoneInfo("UTC")
    )


def _row(
    session: Session,
    staff: Person,
    moment: datetime,
    held: dict[datetime, Appointment],
    blocks: list[ScheduleBlock],
    sees_confidential: bool,
    shown: set[str],
    provenance: Provenance,
) -> Row:
    appointment = held.get(moment)
    if appointment is not None:
        patient = session.get(Patient, appointment.patient_id)
        visit_type = session.get(VisitType, appointment.visit_type_id) if appointment.visit_type_id else None
        if appointment.public_id not in shown:
            shown.add(appointment.public_id)
            _audit_shown(
                session, staff, appointment.patient_id, "Appointment", appointment.public_id, provenance
            )
        return Row(
            moment,
            "booked",
            patient.public_id if patient else None,
            patient.display_name if patient else None,
            appointment.public_id,
            visit_type.name if visit_type and (sees_confidential or not appointment.confidential) else None,
            checked_in_online=appointment.checked_in_at is not None,
        )
    block = next((b for b in blocks if b.start_at <= moment < b.end_at), None)
    if block is not None:
        return Row(moment, "blocked", block_public_id=block.public_id, block_reason=block.reason)
    return Row(moment, "open")


def block_time(
    session: Session, staff: Person, *, provider_id: str, start_at: datetime, end_at: datetime, reason: str
) -> ScheduleBlock:
    """Block a provider's time: nobody can book it (what is already booked stays booked)."""
    access.require_screen(staff, Screen.SCHEDULE)
    provider = session.exec(select(Provider).where(Provider.public_id == provider_id)).first()
    if provider is None:
        raise Refused("choose_provider")
    if not start_at < end_at or end_at - start_at > MAX_BLOCK:
        raise Refused("bad_block_times")
    block = ScheduleBlock(
        provider_id=provider.id, start_at=start_at, end_at=end_at, kind="block", reason=reason.strip()[:200]
    )
    session.add(block)
    session.flush()
    return block


def unblock_time(session: Session, staff: Person, block_id: str) -> bool:
    """Remove a block the front desk set (holidays and days off stay: they are the clinic's calendar)."""
    access.require_screen(staff, Screen.SCHEDULE)
    block = session.exec(select(ScheduleBlock).where(ScheduleBlock.public_id == block_id)).first()
    if block is None or block.kind != "block":
        raise Refused("not_found")
    session.delete(block)
    session.flush()
    return True


@dataclass(frozen=True)
class QueueItem:
    public_id: str
    patient_public_id: str
    patient_name: str
    visit_code: str
    visit_name: str
    preferred: str
    created_at: datetime


def request_queue(session: Session, staff: Person, *, provenance: Provenance) -> list[QueueItem]:
    """The open appointment requests, oldest first; a confidential one only for clinicians."""
    access.require_screen(staff, Screen.SCHEDULE)
    query = (
        select(AppointmentRequest, Patient, VisitType)
        .join(Patient, col(Patient.id) == AppointmentRequest.patient_id)
        .join(VisitType, col(VisitType.id) == AppointmentRequest.visit_type_id)
        .where(AppointmentRequest.status == "open")
        .order_by(col(AppointmentRequest.created_at), col(AppointmentRequest.id))
        .limit(MAX_QUEUE)
    )
    if staff.staff_role != StaffRole.CLINICIAN:
        query = query.where(col(AppointmentRequest.confidential).is_(False))
    items = []
    for request, patient, visit_type in session.exec(query):
        assert patient.id is not None
        _audit_shown(session, staff, patient.id, "AppointmentRequest", request.public_id, provenance)
        items.append(
            QueueItem(
                request.public_id,
                patient.public_id,
                patient.display_name,
                visit_type.code,
                visit_type.name,
                request.preferred,
                request.created_at,
            )
        )
    return items
