"""The wait list: a patient with a booked visit asks for an earlier one; when a time of that type opens,
the people waiting are offered it by mail in turn, each offer good for a set time; the first to accept
gets it, and their old appointment is released in the same transaction.

One open offer per time at once ("in turn"): when it expires, the next round offers the time to the next
person waiting. Accepting takes the time's holds like any booking, so two people accepting at once can
never both get it: the unique hold refuses the second ("slot_taken").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from portal.models.people import Patient, Person
from portal.models.scheduling import (
    Appointment,
    ClinicLocation,
    Provider,
    VisitType,
    WaitListEntry,
    WaitListOffer,
)
from portal.services.access import PatientScope
from portal.services.errors import Refused
from portal.services.scheduling import booking, fhir_out, notices
from portal.services.scheduling.calendar import OpenTime, open_times
from portal.services.scheduling.notices import Clinic

MAX_ENTRIES = 200  # entries looked at in one round


def queue_offers_for(session: Session, cancelled: Appointment) -> None:
    """A cancellation opened a time: the worker's next round offers it (see `offer_round`)."""


def ask_earlier(
    session: Session, scope: PatientScope, clinic: Clinic, public_id: str
) -> WaitListEntry | None:
    """Put one of the patient's booked visits on the wait list (once)."""
    appointment = booking.appointment_of(session, scope, public_id)
    if appointment is None:
        return None
    if appointment.status != "booked" or appointment.source == "ehr" or scope.viewer.id is None:
        raise Refused("cannot_cancel", phone=clinic.phone)
    entry = session.exec(select(WaitListEntry).where(WaitListEntry.appointment_id == appointment.id)).first()
    if entry is None:
        entry = WaitListEntry(
            patient_id=scope.patient_id,
            appointment_id=appointment.id,  # type: ignore[arg-type]
            person_id=scope.viewer.id,
        )
    entry.status = "waiting"
    session.add(entry)
    session.flush()
    return entry


def offer_round(session: Session, clinic: Clinic, now: datetime) -> int:
    """Expire old offers, then offer each person waiting (oldest first) the earliest open time of their
    visit type before their visit that nobody else holds an open offer for. Returns the offers made."""
    for offer in session.exec(
        select(WaitListOffer).where(WaitListOffer.status == "open", col(WaitListOffer.expires_at) <= now)
    ):
        offer.status = "expired"
        session.add(offer)
    session.flush()
    offered: set[tuple[int | None, datetime]] = {
        (o.provider_id, o.start_at)
        for o in session.exec(select(WaitListOffer).where(WaitListOffer.status == "open"))
    }
    made = 0
    entries = session.exec(
        select(WaitListEntry, Appointment)
        .join(Appointment, col(Appointment.id) == WaitListEntry.appointment_id)
        .where(WaitListEntry.status == "waiting", Appointment.status == "booked")
        .order_by(col(WaitListEntry.created_at), col(WaitListEntry.id))
        .limit(MAX_ENTRIES)
    ).all()
    for entry, appointment in entries:
        if _has_open_offer(session, entry) or appointment.visit_type_id is None:
            continue
        visit_type = session.get(VisitType, appointment.visit_type_id)
        if visit_type is None:
            continue
        earlier = _earliest_unoffered(session, visit_type, clinic, now, appointment.start_at, offered, entry)
        if earlier is None:
            continue
        assert earlier.provider.id is not None
        offer = WaitListOffer(
            entry_id=entry.id,  # type: ignore[arg-type]
            patient_id=entry.patient_id,
            provider_id=earlier.provider.id,
            location_id=earlier.location.id if earlier.location else None,
            start_at=earlier.start_at,
            end_at=earlier.end_at,
            expires_at=now + timedelta(hours=clinic.offer_hours),
        )
        session.add(offer)
        session.flush()
        offered.add((earlier.provider.id, earlier.start_at))
        person = session.get(Person, entry.person_id)
        patient = session.get(Patient, entry.patient_id)
        if person is not None and patient is not None:
            link = f"{clinic.origin}/p/{patient.public_id}/appointments/offers/{offer.public_id}"
            notices.offer(session, clinic, person, link, clinic.offer_hours)
        made += 1
    return made


def _has_open_offer(session: Session, entry: WaitListEntry) -> bool:
    return (
        session.exec(
            select(WaitListOffer.id).where(WaitListOffer.entry_id == entry.id, WaitListOffer.status == "open")
        ).first()
        is not None
    )


def _earliest_unoffered(
    session: Session,
    visit_type: VisitType,
    clinic: Clinic,
    now: datetime,
    before: datetime,
    offered: set[tuple[int | None, datetime]],
    entry: WaitListEntry,
) -> OpenTime | None:
    declined = {
        (o.provider_id, o.start_at)
        for o in session.exec(select(WaitListOffer).where(WaitListOffer.entry_id == entry.id))
    }
    for time in open_times(session, visit_type, now=now, tz=clinic.tz):
        if time.start_at >= before:
            return None
        key = (time.provider.id, time.start_at)
        if key not in offered and key not in declined:
            return time
    return None


def offer_of(session: Session, scope: PatientScope, public_id: str) -> WaitListOffer | None:
    """One offer made to this patient's wait-list entry; None for another patient's."""
    offer = session.exec(
        select(WaitListOffer).where(
            WaitListOffer.public_id == public_id, WaitListOffer.patient_id == scope.patient_id
        )
    ).first()
    if offer is None:
        return None
    entry = session.get(WaitListEntry, offer.entry_id)
    old = session.get(Appointment, entry.appointment_id) if entry else None
    # A limited view never learns of an offer for a confidential visit.
    return offer if old is not None and (scope.sees_confidential or not old.confidential) else None


@dataclass(frozen=True)
class OfferPage:
    offer: WaitListOffer
    provider: Provider | None
    place: ClinicLocation | None
    current: Appointment | None
    open: bool


def offer_page(session: Session, scope: PatientScope, public_id: str) -> OfferPage | None:
    """What the offer's page shows: the earlier time, the visit it replaces, and whether it still stands."""
    offer = offer_of(session, scope, public_id)
    if offer is None:
        return None
    entry = session.get(WaitListEntry, offer.entry_id)
    return OfferPage(
        offer,
        session.get(Provider, offer.provider_id),
        session.get(ClinicLocation, offer.location_id) if offer.location_id else None,
        session.get(Appointment, entry.appointment_id) if entry else None,
        offer.status == "open" and offer.expires_at > scope.now,
    )


def accept(session: Session, scope: PatientScope, clinic: Clinic, public_id: str) -> booking.Booked | None:
    """Take the offered time: a new appointment holding it (the first to accept wins: the holds are unique)
    and the old one released, in this one transaction."""
    offer = offer_of(session, scope, public_id)
    if offer is None:
        return None
    if offer.status != "open" or offer.expires_at <= scope.now:
        raise Refused("offer_gone")
    entry = session.get(WaitListEntry, offer.entry_id)
    old = session.get(Appointment, entry.appointment_id) if entry else None
    if entry is None or old is None or old.status != "booked":
        raise Refused("offer_gone")
    provider = session.get(Provider, offer.provider_id)
    place = session.get(ClinicLocation, offer.location_id) if offer.location_id else None
    visit_type = session.get(VisitType, old.visit_type_id) if old.visit_type_id else None
    assert provider is not None
    unit = booking.unit_minutes(session, provider, offer.start_at)
    time = OpenTime(provider, place, offer.start_at, offer.end_at, unit)
    appointment = Appointment(
        patient_id=scope.patient_id,
        provider_id=provider.id,
        location_id=place.id if place else None,
        visit_type_id=old.visit_type_id,
        start_at=offer.start_at,
        end_at=offer.end_at,
        source="portal",
        reason=old.reason,
        confidential=old.confidential,
        video_url=old.video_url,
        booked_by_person_id=scope.viewer.id,
    )
    try:
        booking.hold(session, appointment, time)
    except Refused:
        offer.status = "taken"
        session.add(offer)
        raise
    booking.release(session, old, reason=None, now=scope.now)
    fhir_out.store(session, appointment, visit_type)
    offer.status = "accepted"
    entry.status = "done"
    session.add_all([offer, entry])
    for other in session.exec(
        select(WaitListOffer).where(
            WaitListOffer.status == "open",
            WaitListOffer.provider_id == offer.provider_id,
            WaitListOffer.start_at == offer.start_at,
        )
    ):
        other.status = "taken"
        session.add(other)
    notices.booked(session, clinic, scope.viewer, appointment, provider, place)
    return booking.Booked(appointment, provider, place)


def cancel(
    session: Session, scope: PatientScope, clinic: Clinic, public_id: str, reason: str = ""
) -> Appointment | None:
    """Cancel a booked visit (`booking.cancel`) and offer its time to the people waiting for one earlier."""
    appointment = booking.cancel(session, scope, clinic, public_id, reason)
    if appointment is not None:
        queue_offers_for(session, appointment)
    return appointment
