"""The check-in offer by mail: from `checkin_opens_days` before a visit (a booked appointment, or an
imported encounter), the worker tells the patient (and each proxy who may see the visit) "You can check in
for your visit in your portal", once per visit.

The mail says the clinic's name only: no date, no provider, no patient name. Whether a person may see the
visit is the door's decision (`access.read`, audited as "check-in-offered" from the worker), so a parent
with a limited view of a teen is never told of the teen's confidential visit.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal import db, i18n
from portal.config import Settings
from portal.i18n import gettext as _
from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.models.records import Encounter
from portal.models.registration import CheckInOffer
from portal.models.scheduling import Appointment
from portal.provenance import Provenance
from portal.services import access, mail
from portal.services.access import Area, Look, PatientScope
from portal.services.registration import visits
from portal.services.registration.visits import Visit
from portal.services.scheduling import booking
from portal.services.visibility import visible

WHERE = Provenance(route="worker:checkin-offers")
BATCH = 200  # visits per round; the rest wait for the next round


def _visits_in_window(session: Session, opens_days: int) -> list[Visit]:
    """Visits still to come that start within `opens_days` and have not been offered yet: booked
    appointments and imported encounters, each visit once (an encounter of a booked appointment is that
    appointment's visit, and an offer made under either name counts)."""
    now = utcnow()
    until = now + timedelta(days=opens_days)
    appointments = session.exec(
        select(Appointment)
        .where(Appointment.status == "booked")
        .where(col(Appointment.start_at) > now, col(Appointment.start_at) <= until)
        .order_by(col(Appointment.start_at), col(Appointment.id))
        .limit(BATCH * 2)
    ).all()
    encounters = session.exec(
        select(Encounter)
        .where(col(Encounter.start_at) > now, col(Encounter.start_at) <= until)
        .where(col(Encounter.status).is_(None) | col(Encounter.status).in_(visits.OPEN_ENCOUNTER_STATUSES))
        .order_by(col(Encounter.start_at), col(Encounter.id))
        .limit(BATCH * 2)
    ).all()
    found = visits.combine(session, appointments, encounters)
    done = {
        (patient_id, key)
        for patient_id, key in session.exec(
            select(CheckInOffer.patient_id, CheckInOffer.visit_key).where(
                col(CheckInOffer.patient_id).in_({v.patient_id for v in found})
            )
        )
    }
    return [v for v in found if not any((v.patient_id, key) in done for key in v.keys)][:BATCH]


def sees_visit(session: Session, scope: PatientScope, resource_id: int) -> bool | None:
    """A reader: True when this scope may see the encounter (a limited view leaves out confidential ones)."""
    query = visible(session, scope, select(Encounter), Encounter).where(Encounter.resource_id == resource_id)
    return True if session.scalars(query).first() is not None else None


def sees_appointment(session: Session, scope: PatientScope, appointment_id: int) -> bool | None:
    """A reader: True when this scope may see the booked visit (never a confidential one for a limited
    view), by the appointments' own rule."""
    query = booking.visible(select(Appointment), scope).where(Appointment.id == appointment_id)
    return True if session.exec(query).first() is not None else None


def _people_who_may_be_told(session: Session, patient: Patient) -> list[Person]:
    """The patient's own account and every proxy with a grant; the door then decides for each."""
    ids: set[int] = {patient.person_id} if patient.person_id is not None else set()
    ids |= set(session.exec(select(ProxyGrant.proxy_person_id).where(ProxyGrant.patient_id == patient.id)))
    people = session.exec(select(Person).where(col(Person.id).in_(ids))).all()
    return sorted((p for p in people if p.email and p.staff_role is None), key=lambda p: p.id or 0)


def _offer_mail(session: Session, settings: Settings, person: Person) -> None:
    assert person.email is not None
    with i18n.using(person.locale):
        mail.enqueue(
            session,
            to=person.email,
            subject=_("Check in for your visit"),
            body=_("You can check in for your visit in your portal.") + f"\n\n{settings.clinic_name}\n",
        )


def _look_and_reader(visit: Visit) -> tuple[Look, Callable[..., bool | None], int]:
    if visit.appointment is not None:
        assert visit.appointment.id is not None
        look = Look(Area.APPOINTMENTS, "Appointment", visit.appointment.public_id, "check-in-offered")
        return look, sees_appointment, visit.appointment.id
    assert visit.encounter is not None
    look = Look(Area.APPOINTMENTS, "Encounter", str(visit.encounter.fhir_id), "check-in-offered")
    return look, sees_visit, visit.encounter.resource_id


def _offer_one(session: Session, settings: Settings, visit: Visit) -> int:
    """Record the offer (once per visit) and queue a mail to each person the door lets see the visit."""
    try:
        with session.begin_nested():
            session.add(CheckInOffer(patient_id=visit.patient_id, visit_key=visit.key))
    except IntegrityError:  # another worker offered it at the same moment
        return 0
    patient = session.get(Patient, visit.patient_id)
    assert patient is not None
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    look, reader, visit_id = _look_and_reader(visit)
    sent = 0
    for person in _people_who_may_be_told(session, patient):
        asker = access.Asker(person, settings.today(), rules, utcnow(), WHERE)
        if access.read(session, asker, patient.public_id, look, reader, visit_id):
            _offer_mail(session, settings, person)
            sent += 1
    return sent


def _reload(session: Session, kind: str, row_id: int) -> Visit | None:
    """The visit again, in the offer's own transaction (gone or changed since: nothing to offer)."""
    if kind == "appointment":
        appointment = session.get(Appointment, row_id)
        if appointment is None or appointment.status != "booked":
            return None
        return visits.combine(session, [appointment], [])[0]
    encounter = session.get(Encounter, row_id)
    found = visits.combine(session, [], [encounter]) if encounter is not None else []
    return found[0] if found else None


def _kind_and_id(visit: Visit) -> tuple[str, int | None]:
    if visit.appointment is not None:
        return "appointment", visit.appointment.id
    return "encounter", visit.encounter.id if visit.encounter else None


def send_checkin_offers(engine: Engine, settings: Settings) -> int:
    """One worker round's offers, each visit in its own transaction; how many mails were queued."""
    with db.transaction(engine) as session:
        wanted = [_kind_and_id(v) for v in _visits_in_window(session, settings.checkin_opens_days)]
    queued = 0
    for kind, row_id in wanted:
        if row_id is None:
            continue
        with db.transaction(engine) as session:
            visit = _reload(session, kind, row_id)
            if visit is not None:
                queued += _offer_one(session, settings, visit)
    return queued
