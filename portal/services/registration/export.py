"""What check-ins wrote for the EHR since a moment, as NDJSON lines (`portal registration export`).

Each patient's resources are read through the door as the operator (`read_as_operator`), so the export is
audited once per patient, like `portal export-fhir`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime

from sqlmodel import Session, col, select

from portal.models.people import Patient
from portal.models.records import FhirResource
from portal.models.registration import RegistrationOutput
from portal.services.access import Area, Look, Operator, PatientScope, read_as_operator


def _outputs(session: Session, scope: PatientScope, since: datetime) -> list[str] | None:
    rows = session.exec(
        select(FhirResource.resource_json)
        .join(RegistrationOutput, col(RegistrationOutput.fhir_resource_id) == col(FhirResource.id))
        .where(col(FhirResource.patient_id) == scope.patient_id, col(RegistrationOutput.created_at) >= since)
        .order_by(col(RegistrationOutput.id))
    ).all()
    return list(dict.fromkeys(rows)) or None  # a resource updated twice is listed once, as it is now


def ndjson(session: Session, operator: Operator, since: datetime) -> Iterator[str]:
    patient_ids = session.exec(
        select(FhirResource.patient_id)
        .join(RegistrationOutput, col(RegistrationOutput.fhir_resource_id) == col(FhirResource.id))
        .where(col(RegistrationOutput.created_at) >= since)
        .distinct()
    ).all()
    for patient_id in sorted(p for p in patient_ids if p is not None):
        patient = session.get(Patient, patient_id)
        assert patient is not None
        look = Look(Area.APPOINTMENTS, "CheckIn", patient.public_id, action="export")
        for text in read_as_operator(session, operator, patient, look, _outputs, since) or []:
            yield json.dumps(json.loads(text), ensure_ascii=False, sort_keys=True)
