"""First visits: when the front desk books a visit for a patient who has no portal account yet, the booking
confirmation the desk sees carries a fresh activation code for the patient, to hand over in person.

With the code the patient makes their account, and the online check-in for that visit is their
registration. The code is issued by identity's own `issue_activation_code` (stored hashed, audited as
"code-issued" as on the front desk screen), only for staff whose role opens the front desk screen, in the
booking's own transaction; it is shown once and never put in mail or a URL.
"""

from __future__ import annotations

from dataclasses import replace

from sqlmodel import Session, col, select

from portal.models.identity import OneTimeCode
from portal.models.people import Patient
from portal.security.sessions import Client
from portal.services import access
from portal.services.access import PatientScope, Screen
from portal.services.identity.codes import issue_activation_code
from portal.services.scheduling import booking
from portal.services.scheduling.booking import Booked, Booking
from portal.services.scheduling.notices import Clinic


def has_account(session: Session, patient: Patient) -> bool:
    """A person is linked to the patient as themself, or one of their activation codes was used."""
    if patient.person_id is not None:
        return True
    used = session.exec(
        select(OneTimeCode.id).where(
            OneTimeCode.kind == "activation",
            OneTimeCode.patient_id == patient.id,
            col(OneTimeCode.used_at).is_not(None),
        )
    ).first()
    return used is not None


def needs_code(session: Session, scope: PatientScope, wanted: Booking) -> bool:
    """A new booking (not a change of time) by front-desk staff for a living patient with no account."""
    return (
        scope.staff
        and wanted.replaces is None
        and access.may_use_screen(scope.viewer, Screen.FRONT_DESK)
        and not scope.patient.deceased
        and not has_account(session, scope.patient)
    )


def book(session: Session, scope: PatientScope, clinic: Clinic, wanted: Booking, client: Client) -> Booked:
    """Book the visit (scheduling's `book`); for a first visit the front desk booked, with a fresh
    activation code for the patient on the confirmation (older unused codes stop working)."""
    made = booking.book(session, scope, clinic, wanted)
    if not needs_code(session, scope, wanted):
        return made
    code = issue_activation_code(session, patient=scope.patient, issued_by=scope.viewer, client=client)
    return replace(made, activation_code=code)
