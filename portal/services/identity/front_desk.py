"""The front desk's identity work: give a patient an activation code, reset their sign-in (the search is
services/patient_search.py)."""

from __future__ import annotations

from sqlmodel import Session

from portal.models import Patient, Person
from portal.security.sessions import Client
from portal.services.identity.codes import find_patient, issue_activation_code
from portal.services.identity.common import audit_event
from portal.services.identity.signin import remove_sign_in


def issue_for_fhir_id(
    session: Session, *, fhir_id: str, staff: Person, client: Client, reset: bool = False
) -> tuple[Patient, str] | None:
    """The front desk's action: a new activation code (after a full reset, if asked) for a patient; None
    when no patient has that id. Raises Refused("patient_deceased") for a deceased patient."""
    patient = find_patient(session, fhir_id)
    if patient is None:
        return None
    if reset:
        return patient, reset_patient_sign_in(session, patient=patient, staff=staff, client=client)
    return patient, issue_activation_code(session, patient=patient, issued_by=staff, client=client)


def reset_patient_sign_in(session: Session, *, patient: Patient, staff: Person, client: Client) -> str:
    """Remove every way the patient signs in (passkeys, password, recovery codes, sessions); a new code."""
    if patient.person_id is not None:
        remove_sign_in(session, patient.person_id)
    audit_event(
        session,
        client,
        action="staff-reset",
        actor_person_id=staff.id,
        actor_role=staff.staff_role,
        patient_id=patient.id,
        resource_type="Patient",
        resource_id=patient.fhir_id,
    )
    return issue_activation_code(session, patient=patient, issued_by=staff, client=client)
