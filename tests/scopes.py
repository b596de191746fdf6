"""Patient scopes for service-level tests, opened the only way there is: through the access service."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session

from portal.models import Patient
from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access
from portal.services.access import Area, Look, PatientScope


def _patient(session: Session, patient: Patient | int) -> Patient:
    found = session.get(Patient, patient) if isinstance(patient, int) else patient
    assert found is not None
    return found


def operator_scope(session: Session, patient: Patient | int, area: Area = Area.RECORD) -> PatientScope:
    """The command line's scope: everything, held results marked."""
    operator = access.Operator(date.today(), access.AgeRules(), utcnow(), Provenance(route="cli:test"))
    scope = access.read_as_operator(session, operator, _patient(session, patient), Look(area), _scope)
    assert scope is not None
    return scope


def person_scope(session: Session, person, patient: Patient | int, area: Area = Area.RECORD) -> PatientScope:
    """What `person` gets for `patient` through `access.read`; fails the test if refused."""
    asker = access.Asker(person, date.today(), access.AgeRules(), utcnow(), Provenance(route="test"))
    opened = access.read(session, asker, _patient(session, patient).public_id, Look(area), _scope)
    assert opened is not None
    return opened.data


def limited_scope(session: Session, patient: Patient | int) -> PatientScope:
    """A limited proxy's scope (confidential items hidden), for a new caregiver of the patient."""
    from tests.conftest import make_person

    found = _patient(session, patient)
    caregiver = make_person(session)
    session.add(
        ProxyGrant(
            proxy_person_id=caregiver.id,
            patient_id=found.id,
            relationship="caregiver",
            level="limited",
            starts_on=date(2000, 1, 1),
        )
    )
    session.flush()
    scope = person_scope(session, caregiver, found)
    assert not scope.sees_confidential
    return scope


def _scope(session: Session, scope: PatientScope) -> PatientScope:
    return scope
