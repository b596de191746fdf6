"""Bringing visits into the ledger as the clinic's operator: a CSV statement file, or the imported claims.

Each patient's change goes through the door as the operator (`act_as_operator`), so each is audited.
"""

from __future__ import annotations

from sqlmodel import Session, col, select

from portal.models.billing import BilledVisit
from portal.models.people import Patient
from portal.models.records import FhirResource
from portal.services import access
from portal.services.access import Area, Look, PatientScope
from portal.services.billing import ledger
from portal.services.billing.ledger import VisitBill
from portal.services.billing.statement_file import read_statement_file

IMPORT = Look(Area.BILLING, "ExplanationOfBenefit", action="import")


def record_visits(session: Session, scope: PatientScope, bills: list[VisitBill]) -> int:
    for bill in bills:
        ledger.record_visit(session, scope, bill)
    return len(bills)


def import_statement_file(session: Session, operator: access.Operator, text: str) -> int:
    """Import a CSV statement file checked whole (StatementFileRefused names the bad lines, writes
    nothing); returns the number of visits read."""
    by_patient = read_statement_file(session, text)
    count = 0
    for patient_id, bills in by_patient.items():
        patient = session.get(Patient, patient_id)
        assert patient is not None
        acted = access.act_as_operator(session, operator, patient, IMPORT, record_visits, bills)
        count += acted.data if acted is not None and acted.data is not None else 0
    return count


def patients_with_new_claims(session: Session) -> list[int]:
    """Patients with an ExplanationOfBenefit that the ledger has not taken in since it last changed."""
    claims = session.exec(
        select(FhirResource.fhir_id, FhirResource.patient_id, FhirResource.updated_at).where(
            FhirResource.resource_type == "ExplanationOfBenefit", col(FhirResource.patient_id).is_not(None)
        )
    ).all()
    if not claims:
        return []
    seen = dict(
        session.exec(
            select(BilledVisit.source_key, BilledVisit.updated_at).where(
                col(BilledVisit.source_key).startswith("eob:")
            )
        ).all()
    )
    waiting: set[int] = set()
    for fhir_id, patient_id, updated_at in claims:
        taken = seen.get(f"eob:{fhir_id}")
        if patient_id is not None and (taken is None or taken < updated_at):
            waiting.add(patient_id)
    return sorted(waiting)


def sync_claims(session: Session, operator: access.Operator) -> int:
    """Take every new or changed claim into its patient's ledger; returns how many patients changed."""
    waiting = patients_with_new_claims(session)
    for patient_id in waiting:
        patient = session.get(Patient, patient_id)
        assert patient is not None
        access.act_as_operator(session, operator, patient, IMPORT, ledger.sync_from_fhir)
    return len(waiting)
