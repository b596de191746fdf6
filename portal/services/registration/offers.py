"""The check-in offer by mail: from `checkin_opens_days` before a visit, the worker tells the patient (and
each proxy who may see the visit) "You can check in for your visit in your portal", once per visit.

The mail says the clinic's name only: no date, no provider, no patient name. Whether a person may see the
visit is the door's decision (`access.read`, audited as "check-in-offered" from the worker), so a parent
with a limited view of a teen is never told of the teen's confidential visit.
"""

from __future__ import annotations

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
from portal.provenance import Provenance
from portal.services import access, mail
from portal.services.access import Area, Look, PatientScope
from portal.services.visibility import visible

WHERE = Provenance(route="worker:checkin-offers")
OPEN_STATUSES = ("planned", "arrived")
BATCH = 200  # visits per round; the rest wait for the next round


def visit_key(encounter: Encounter) -> str:
    return f"encounter:{encounter.resource_id}"


def _visits_in_window(session: Session, opens_days: int) -> list[Encounter]:
    """Visits still to come that start within `opens_days` and have not been offered yet."""
    now = utcnow()
    encounters = session.exec(
        select(Encounter)
        .where(col(Encounter.start_at) > now, col(Encounter.start_at) <= now + timedelta(days=opens_days))
        .where(col(Encounter.status).is_(None) | col(Encounter.status).in_(OPEN_STATUSES))
        .order_by(col(Encounter.start_at), col(Encounter.id))
        .limit(BATCH * 2)
    ).all()
    done = {
        (patient_id, key)
        for patient_id, key in session.exec(
            select(CheckInOffer.patient_id, CheckInOffer.visit_key).where(
                col(CheckInOffer.patient_id).in_({e.patient_id for e in encounters})
            )
        )
    }
    return [e for e in encounters if (e.patient_id, visit_key(e)) not in done][:BATCH]


def sees_visit(session: Session, scope: PatientScope, resource_id: int) -> bool | None:
    """A reader: True when this scope may see the visit (a limited view leaves out confidential ones)."""
    query = visible(session, scope, select(Encounter), Encounter).where(Encounter.resource_id == resource_id)
    return True if session.scalars(query).first() is not None else None


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


def _offer_one(session: Session, settings: Settings, encounter: Encounter) -> int:
    """Record the offer (once per visit) and queue a mail to each person the door lets see the visit."""
    try:
        with session.begin_nested():
            session.add(CheckInOffer(patient_id=encounter.patient_id, visit_key=visit_key(encounter)))
    except IntegrityError:  # another worker offered it at the same moment
        return 0
    patient = session.get(Patient, encounter.patient_id)
    assert patient is not None and encounter.resource_id is not None
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    look = Look(Area.APPOINTMENTS, "Encounter", str(encounter.fhir_id), "check-in-offered")
    sent = 0
    for person in _people_who_may_be_told(session, patient):
        asker = access.Asker(person, settings.today(), rules, utcnow(), WHERE)
        if access.read(session, asker, patient.public_id, look, sees_visit, encounter.resource_id):
            _offer_mail(session, settings, person)
            sent += 1
    return sent


def send_checkin_offers(engine: Engine, settings: Settings) -> int:
    """One worker round's offers, each visit in its own transaction; how many mails were queued."""
    with db.transaction(engine) as session:
        visits = [e.id for e in _visits_in_window(session, settings.checkin_opens_days)]
    queued = 0
    for encounter_id in visits:
        with db.transaction(engine) as session:
            encounter = session.get(Encounter, encounter_id)
            if encounter is not None:
                queued += _offer_one(session, settings, encounter)
    return queued
