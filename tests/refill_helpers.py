"""A family with medicines, for the refill tests: a parent with a child (8) and a teen (15) who has an
account of their own, a clinician, and medicines each refill rule applies to."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime

from sqlmodel import Session

from portal.models import FhirResource, MedicationRequest, ProxyGrant
from portal.models.people import StaffRole
from tests.conftest import make_patient, make_person

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def make_medication(
    session: Session,
    patient,
    *,
    code: str = "316049",
    display: str = "Hydrochlorothiazide 25 MG",
    status: str = "active",
    confidential: bool = False,
    extra: dict | None = None,
) -> MedicationRequest:
    fhir_id = f"med-{secrets.token_hex(4)}"
    resource = {
        "resourceType": "MedicationRequest",
        "id": fhir_id,
        "status": status,
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": code, "display": display}]},
        "subject": {"reference": f"Patient/{patient.fhir_id}"},
        "authoredOn": "2025-11-05",
        **(extra or {}),
    }
    row = FhirResource(
        resource_type="MedicationRequest",
        fhir_id=fhir_id,
        patient_id=patient.id,
        content_hash="0" * 64,
        resource_json=json.dumps(resource),
        confidential_reason="sensitive-code" if confidential else None,
    )
    session.add(row)
    session.flush()
    medication = MedicationRequest(
        resource_id=row.id,
        patient_id=patient.id,
        fhir_id=fhir_id,
        status=status,
        intent="order",
        code_system=RXNORM,
        code=code,
        display=display,
        confidential=confidential,
        confidential_reason="sensitive-code" if confidential else None,
        authored_on=datetime(2025, 11, 5, tzinfo=UTC),
    )
    session.add(medication)
    session.commit()
    return medication


def family(session: Session, today: date) -> dict:
    parent = make_person(session, display_name="Pat Parent", email="parent@example.org")
    teen_person = make_person(session, display_name="Tess Teen", email="teen@example.org")
    clinician = make_person(session, display_name="Dr Cora", staff_role=StaffRole.CLINICIAN)
    other_clinician = make_person(session, display_name="Dr Omar", staff_role=StaffRole.CLINICIAN)
    front_desk = make_person(session, display_name="Fran Desk", staff_role=StaffRole.FRONT_DESK)
    child = make_patient(session, given_name="Kit", birth_date=date(today.year - 8, 1, 1))
    teen = make_patient(
        session, given_name="Tess", birth_date=date(today.year - 15, 1, 1), person_id=teen_person.id
    )
    for patient in (child, teen):
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id,
                patient_id=patient.id,
                relationship="parent",
                starts_on=date(2010, 1, 1),
            )
        )
    session.commit()
    return {
        "parent": parent,
        "teen_person": teen_person,
        "clinician": clinician,
        "other_clinician": other_clinician,
        "front_desk": front_desk,
        "child": child,
        "teen": teen,
        "inhaler": make_medication(session, child, code="745679", display="Albuterol inhaler"),
        "teen_pill": make_medication(session, teen, code="1014678", display="Cetirizine 10 MG"),
        "teen_private": make_medication(
            session, teen, code="748856", display="Private teen medicine 9c1e", confidential=True
        ),
    }


REQUEST = {"pharmacy": "riverside-main", "days_left": "5", "note": ""}
