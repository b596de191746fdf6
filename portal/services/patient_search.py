"""The front desk's one patient search: by the EHR's id, or by a name together with the exact birth date.

Both front-desk screens (activation codes, proxy access) use it. Each word typed must begin the patient's
given or family name (case does not matter; `%` and `_` are letters here, never wildcards), results are
bounded, and every patient shown is an audit event ("view" of that Patient), in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, func, or_, select

from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import access, audit
from portal.services.access import Screen
from portal.services.errors import Refused

MAX_RESULTS = 20
MAX_WORDS = 5
MAX_NAME = 200
MAX_ID = 64


@dataclass(frozen=True)
class Query:
    """What the front desk typed: the EHR id alone, or a name (some words of it) and the date of birth."""

    fhir_id: str = ""
    name: str = ""
    birth_date: date | None = None

    def words(self) -> list[str]:
        return self.name[:MAX_NAME].lower().split()[:MAX_WORDS]

    def complete(self) -> bool:
        return bool(self.fhir_id.strip()) or (bool(self.words()) and self.birth_date is not None)


@dataclass(frozen=True)
class Found:
    """One patient shown to the front desk: enough to tell people apart and to act, nothing clinical."""

    public_id: str
    fhir_id: str
    display_name: str
    birth_date: date | None
    has_account: bool
    deceased: bool  # never offered an activation code


def search(
    session: Session, searcher: Person, query: Query, *, screen: Screen, provenance: Provenance
) -> list[Found]:
    """Patients matching `query`, for a member of staff whose role opens `screen`; each one shown audited.

    Refuses "screen_not_allowed" for anyone else and "search_incomplete" for a query that names neither an
    id nor a name with a date of birth (so it can never list everyone born on a day, or everyone).
    """
    access.require_screen(searcher, screen)
    if not query.complete():
        raise Refused("search_incomplete")
    statement = select(Patient)
    fhir_id = query.fhir_id.strip()[:MAX_ID]
    if fhir_id:
        statement = statement.where(Patient.fhir_id == fhir_id)
    else:
        statement = statement.where(Patient.birth_date == query.birth_date)
        for word in query.words():
            statement = statement.where(
                or_(
                    func.lower(Patient.given_name).startswith(word, autoescape=True),
                    func.lower(Patient.family_name).startswith(word, autoescape=True),
                )
            )
    order = (col(Patient.family_name), col(Patient.given_name), col(Patient.id))
    patients = session.exec(statement.order_by(*order).limit(MAX_RESULTS)).all()
    for patient in patients:
        audit.record(
            session,
            action="view",
            actor_person_id=searcher.id,
            actor_role=searcher.staff_role,
            patient_id=patient.id,
            resource_type="Patient",
            resource_id=patient.fhir_id,
            provenance=provenance,
        )
    return [
        Found(
            patient.public_id,
            patient.fhir_id,
            patient.display_name,
            patient.birth_date,
            patient.person_id is not None,
            patient.deceased,
        )
        for patient in patients
    ]
