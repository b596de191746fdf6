"""The worker's scheduling job, once a round: reminders 3 and 1 days before (settings), wait-list offers,
and the front desk's digest of what patients did online. Mail says no more than the date, time, provider
and place (never the reason or the kind of visit)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, func, select

from portal.config import Settings
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.models.scheduling import Appointment, ClinicLocation, DeskAlert, Provider
from portal.services import mail
from portal.services.scheduling import notices, waitlist
from portal.services.scheduling.notices import Clinic

BATCH = 200


def run_scheduling_round(engine: Engine, settings: Settings, now: datetime | None = None) -> None:
    """One round of reminders, offers and the digest, in one transaction."""
    clinic = Clinic.of(settings)
    moment = now or utcnow()
    with Session(engine) as session:
        send_reminders(session, clinic, moment)
        waitlist.offer_round(session, clinic, moment)
        send_desk_digest(session, clinic, moment)
        session.commit()


def send_reminders(session: Session, clinic: Clinic, now: datetime) -> int:
    """For each booked visit inside a reminder's window and not yet reminded for it: one mail with a link
    to the visit (to confirm or cancel). A visit booked inside both windows gets one reminder."""
    if not clinic.reminder_days:
        return 0
    furthest = now + timedelta(days=max(clinic.reminder_days))
    sent = 0
    for appointment in session.exec(
        select(Appointment)
        .where(
            Appointment.status == "booked",
            col(Appointment.start_at) > now,
            col(Appointment.start_at) <= furthest,
        )
        .order_by(col(Appointment.start_at))
        .limit(BATCH)
    ):
        done = {d for d in appointment.reminded_days.split(",") if d}
        due = [d for d in clinic.reminder_days if appointment.start_at - now <= timedelta(days=d)]
        if not due or all(str(d) in done for d in due):
            continue
        appointment.reminded_days = ",".join(sorted(done | {str(d) for d in due}))
        session.add(appointment)
        person = _told(session, appointment)
        patient = session.get(Patient, appointment.patient_id)
        if person is None or patient is None:
            continue
        provider = session.get(Provider, appointment.provider_id) if appointment.provider_id else None
        place = session.get(ClinicLocation, appointment.location_id) if appointment.location_id else None
        link = f"{clinic.origin}/p/{patient.public_id}/appointments/{appointment.public_id}"
        notices.reminder(session, clinic, person, appointment, provider, place, link)
        sent += 1
    session.flush()
    return sent


def _told(session: Session, appointment: Appointment) -> Person | None:
    """The patient's own account, else whoever booked it (a child's parent)."""
    patient = session.get(Patient, appointment.patient_id)
    if patient is not None and patient.person_id is not None:
        return session.get(Person, patient.person_id)
    return session.get(Person, appointment.booked_by_person_id) if appointment.booked_by_person_id else None


def send_desk_digest(session: Session, clinic: Clinic, now: datetime) -> bool:
    """Counts of online bookings, cancellations and requests since the last digest, to the front desk's
    address (no patient named)."""
    if not clinic.desk_email:
        return False
    counts = dict(
        session.exec(
            select(DeskAlert.kind, func.count())
            .where(col(DeskAlert.sent_at).is_(None))
            .group_by(DeskAlert.kind)
        ).all()
    )
    if not counts:
        return False
    lines = [
        f"Booked online: {counts.get('booked', 0)}",
        f"Cancelled online: {counts.get('cancelled', 0)}",
        f"Asked for a visit: {counts.get('request', 0)}",
        f"The schedule: {clinic.origin}/staff/schedule  Requests: {clinic.origin}/staff/schedule/requests",
    ]
    mail.enqueue(
        session,
        to=clinic.desk_email,
        subject="Appointments: what patients did online",
        body="\n".join(lines) + "\n",
    )
    for alert in session.exec(select(DeskAlert).where(col(DeskAlert.sent_at).is_(None))):
        alert.sent_at = now
        session.add(alert)
    session.flush()
    return True
