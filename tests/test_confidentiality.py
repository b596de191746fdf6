"""A limited proxy's view hides what the EHR marked restricted and what carries a sensitive code."""

from __future__ import annotations

from datetime import UTC, date, datetime

from portal.models import FhirResource, Patient, Procedure
from portal.services import records
from portal.services.sensitive_codes import SNOMED
from tests.scopes import limited_scope, operator_scope


def add_procedure(session, patient, code: str, display: str, *, confidential: bool = False) -> Procedure:
    resource = FhirResource(
        resource_type="Procedure",
        fhir_id=f"proc-{code}",
        patient_id=patient.id,
        content_hash="x",
        resource_json="{}",
    )
    session.add(resource)
    session.flush()
    procedure = Procedure(
        resource_id=resource.id,
        patient_id=patient.id,
        fhir_id=resource.fhir_id,
        code_system=SNOMED,
        code=code,
        display=display,
        confidential=confidential,
        performed_start=datetime(2026, 10, 1, tzinfo=UTC),
    )
    session.add(procedure)
    session.flush()
    return procedure


def test_sensitive_codes_and_restricted_items_are_hidden_from_a_limited_view(session) -> None:
    teen = Patient(fhir_id="teen-1", given_name="Sofia", birth_date=date(2011, 6, 15))
    session.add(teen)
    session.flush()
    add_procedure(session, teen, "310861008", "Chlamydia antigen test")
    add_procedure(session, teen, "430193006", "Medication reconciliation", confidential=True)
    add_procedure(session, teen, "430193007", "Hearing screening")

    limited = records.procedures(session, limited_scope(session, teen.id))
    full = records.procedures(session, operator_scope(session, teen.id))

    assert [p.display for p in limited] == ["Hearing screening"]
    assert len(full) == 3
