"""What the record pages read: results, medications, immunizations, allergies, problems, visits, notes and
growth, for one patient at a time.

Every function takes the patient scope the access service opened, never a bare patient id, and reads
through the one visibility rule (services/visibility.py): this patient's rows only, confidential items
left out for a limited view, held results left out for patients and proxies. Nothing here writes, and
nothing here commits, apart from the operator's audited export.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Integer, bindparam, func, literal, literal_column, null, select, union_all
from sqlalchemy.orm import defer
from sqlmodel import Session, col

from portal.fhir import export
from portal.models.base import UTCDateTime
from portal.models.people import Patient
from portal.models.records import (
    Allergy,
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    FhirResource,
    Immunization,
    MedicationRequest,
    Observation,
    Procedure,
    RecordItem,
)
from portal.services import visibility
from portal.services.access import Area, Look, Operator, PatientScope, read_as_operator
from portal.services.visibility import Prepared, Shape, visible

Item = TypeVar("Item", bound=RecordItem)

LABORATORY = "laboratory"
VITAL_SIGNS = "vital-signs"
ACTIVE_MEDICATION = frozenset({"active", "on-hold", "draft"})
ACTIVE_CONDITION = frozenset({"active", "recurrence", "relapse"})

# LOINC codes of the growth measurements, by what the chart calls them.
GROWTH_CODES: dict[str, tuple[str, ...]] = {
    "weight": ("29463-7", "3141-9"),
    "height": ("8302-2", "8306-3"),  # standing height, recumbent length
    "bmi": ("39156-5",),
    "head_circumference": ("9843-4", "8287-5"),
}
_UNIT_FACTORS = {  # to kg, cm, kg/m2, cm
    "weight": {"kg": 1.0, "g": 0.001, "[lb_av]": 0.45359237, "lb": 0.45359237},
    "height": {"cm": 1.0, "m": 100.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54},
    "bmi": {"kg/m2": 1.0, "kg/m^2": 1.0},
    "head_circumference": {"cm": 1.0, "mm": 0.1, "[in_i]": 2.54, "in": 2.54},
}
GROWTH_UNITS = {"weight": "kg", "height": "cm", "bmi": "kg/m2", "head_circumference": "cm"}


# The pages' statements are built once (building one cost more than running it), for each shape of the
# visibility rule; a request only binds its values: the patient, held categories' cutoffs, a limit.
LIMIT = bindparam("limit", type_=Integer())
OFFSET = bindparam("offset", type_=Integer())
NOW = bindparam("now", type_=UTCDateTime())


def _newest_first(table: type[RecordItem], time_column: Any) -> Prepared[Any]:
    return Prepared(
        lambda shape: (
            select(table).where(shape.shown(table)).order_by(time_column.desc(), col(table.id).desc())
        )
    )


_ONE: dict[type[RecordItem], Prepared[Any]] = {}


def _one(session: Session, scope: PatientScope, table: type[Item], public_id: str) -> Item | None:
    prepared = _ONE.get(table)
    if prepared is None:
        prepared = _ONE[table] = Prepared(
            lambda shape: select(table).where(
                shape.shown(table), col(table.public_id) == bindparam("public_id")
            )
        )
    statement, values = prepared(session, scope)
    found: Item | None = session.scalars(statement, {**values, "public_id": public_id}).first()
    return found


_REPORTS_BY_RESOURCE_ID = (
    select(DiagnosticReport)
    .where(col(DiagnosticReport.patient_id) == bindparam("patient_id"))
    .where(col(DiagnosticReport.resource_id).in_(bindparam("resource_ids", expanding=True)))
)


def reports_by_resource_id(
    session: Session, scope: PatientScope, resource_ids: set[int]
) -> dict[int, DiagnosticReport]:
    """The reports some shown results belong to (for marking their release), by their resource id."""
    if not resource_ids:
        return {}
    rows = session.scalars(
        _REPORTS_BY_RESOURCE_ID, {"patient_id": scope.patient_id, "resource_ids": sorted(resource_ids)}
    )
    return {row.resource_id: row for row in rows}


# Medications, immunizations, allergies, problems ---------------------------------------------------


_MEDICATIONS = _newest_first(MedicationRequest, col(MedicationRequest.authored_on))
_ALLERGIES = _newest_first(Allergy, col(Allergy.recorded_at))
_CONDITIONS = _newest_first(Condition, col(Condition.onset_at))
_IMMUNIZATIONS = Prepared(
    lambda shape: (
        select(Immunization)
        .where(shape.shown(Immunization), col(Immunization.status) != "entered-in-error")
        .order_by(col(Immunization.occurred_at).desc(), col(Immunization.id).desc())
    )
)


@dataclass(frozen=True)
class CurrentAndPast:
    current: list[Any] = field(default_factory=list)
    past: list[Any] = field(default_factory=list)


def medications(session: Session, scope: PatientScope) -> CurrentAndPast:
    """Medication requests: active (and on hold) ones, then the rest, newest first in each."""
    rows = session.scalars(*_MEDICATIONS(session, scope))
    lists = CurrentAndPast()
    for row in rows:
        (lists.current if row.status in ACTIVE_MEDICATION else lists.past).append(row)
    return lists


def immunizations(session: Session, scope: PatientScope) -> list[Immunization]:
    """Immunizations, newest first (entered-in-error ones left out)."""
    return list(session.scalars(*_IMMUNIZATIONS(session, scope)))


def allergies(session: Session, scope: PatientScope) -> CurrentAndPast:
    """Allergies and intolerances: active ones, then resolved or inactive ones."""
    rows = session.scalars(*_ALLERGIES(session, scope))
    lists = CurrentAndPast()
    for row in rows:
        if row.verification_status == "entered-in-error":
            continue
        (lists.current if row.status in (None, "active") else lists.past).append(row)
    return lists


def conditions(session: Session, scope: PatientScope) -> CurrentAndPast:
    """Problems and diagnoses: active ones, then resolved ones, most recent onset first."""
    rows = session.scalars(*_CONDITIONS(session, scope))
    lists = CurrentAndPast()
    for row in rows:
        if row.verification_status == "entered-in-error":
            continue
        (lists.current if row.status in ACTIVE_CONDITION else lists.past).append(row)
    return lists


# The summary's three current lists in one statement, as rows of the columns it shows.
CURRENT_LISTS = ("problems", "medications", "allergies")


def _current(
    shape: Shape, name: str, table: type[RecordItem], current: Any, time_column: Any, **shown: Any
) -> Any:
    columns = [col(table.display), col(table.code_system), col(table.code)]
    columns += [shown.get(extra, null()).label(extra) for extra in ("dosage", "reactions")]
    return (
        select(
            literal(CURRENT_LISTS.index(name)).label("list"),
            *columns,
            time_column.label("at"),
            col(table.id).label("id"),
        )
        .where(shape.shown(table), current)
        .order_by(time_column.desc(), col(table.id).desc())
        .limit(LIMIT)
        .subquery()
    )


def _not_in_error(table: type[Condition] | type[Allergy]) -> Any:
    return col(table.verification_status).is_(None) | (col(table.verification_status) != "entered-in-error")


def _current_lists(shape: Shape) -> Any:
    lists = (
        _current(
            shape,
            "problems",
            Condition,
            _not_in_error(Condition) & col(Condition.status).in_(sorted(ACTIVE_CONDITION)),
            col(Condition.onset_at),
        ),
        _current(
            shape,
            "medications",
            MedicationRequest,
            col(MedicationRequest.status).in_(sorted(ACTIVE_MEDICATION)),
            col(MedicationRequest.authored_on),
            dosage=col(MedicationRequest.dosage),
        ),
        _current(
            shape,
            "allergies",
            Allergy,
            _not_in_error(Allergy) & (col(Allergy.status).is_(None) | (col(Allergy.status) == "active")),
            col(Allergy.recorded_at),
            reactions=col(Allergy.reactions),
        ),
    )
    # Each list keeps its own page's order (the same expressions, so NULLs fall the same way).
    return union_all(*(select(part) for part in lists)).order_by(
        literal_column("list"), literal_column("at").desc(), literal_column("id").desc()
    )


_CURRENT = Prepared(_current_lists)


def current_only(session: Session, scope: PatientScope, limit: int) -> dict[str, list[Any]]:
    """The first `limit` + 1 current health issues, medications and allergies, each list in its page's order
    (for the summary, which shows a few and links to the rest): filtered and cut in SQL, in one statement,
    as rows of what the summary shows (display, code_system, code, dosage, reactions)."""
    statement, values = _CURRENT(session, scope)
    found: dict[str, list[Any]] = {name: [] for name in CURRENT_LISTS}
    for row in session.execute(statement, {**values, "limit": limit + 1}):
        found[CURRENT_LISTS[row.list]].append(row)
    return found


def procedures(session: Session, scope: PatientScope) -> list[Procedure]:
    query = visible(session, scope, select(Procedure), Procedure)
    return list(
        session.scalars(query.order_by(col(Procedure.performed_start).desc(), col(Procedure.id).desc()))
    )


# Visits and notes ----------------------------------------------------------------------------------


def encounters(session: Session, scope: PatientScope, limit: int = 50, offset: int = 0) -> list[Encounter]:
    """Visits, newest first, a page at a time."""
    return _paged(session, scope, Encounter, col(Encounter.start_at), limit, offset)


@dataclass(frozen=True)
class _Paging:
    """The two statements of a paged list: a page's ids, then those rows."""

    ids: Prepared[Any]
    rows: Any


_PAGING: dict[type[RecordItem], _Paging] = {}


def _paged(
    session: Session, scope: PatientScope, table: type[Item], time_column: Any, limit: int, offset: int
) -> list[Item]:
    """A page of a list, newest first: the page's ids from the (patient, time, id) index alone, then
    only those rows, so a far page skips index entries rather than whole rows."""
    paging = _PAGING.get(table)
    if paging is None:
        paging = _PAGING[table] = _Paging(
            Prepared(
                lambda shape: (
                    select(col(table.id))
                    .where(shape.shown(table))
                    .order_by(time_column.desc(), col(table.id).desc())
                    .limit(LIMIT)
                    .offset(OFFSET)
                )
            ),
            select(table).where(col(table.id).in_(bindparam("ids", expanding=True))),
        )
    statement, values = paging.ids(session, scope)
    ids = list(session.scalars(statement, {**values, "limit": limit, "offset": offset}))
    if not ids:
        return []
    rows = {row.id: row for row in session.scalars(paging.rows, {"ids": ids})}
    return [rows[row_id] for row_id in ids]


_UPCOMING = Prepared(
    lambda shape: (
        select(Encounter)
        .where(
            shape.shown(Encounter),
            col(Encounter.start_at) > NOW,
            col(Encounter.status).is_(None) | col(Encounter.status).not_in(("cancelled", "entered-in-error")),
        )
        .order_by(col(Encounter.start_at), col(Encounter.id))
        .limit(LIMIT)
    )
)


def upcoming_encounters(session: Session, scope: PatientScope, limit: int = 5) -> list[Encounter]:
    """Visits still to come (starting after the scope's moment), soonest first."""
    statement, values = _UPCOMING(session, scope)
    return list(session.scalars(statement, {**values, "now": scope.now, "limit": limit}))


@dataclass(frozen=True)
class EncounterDetail:
    encounter: Encounter
    notes: list[ClinicalDocument]
    diagnoses: list[Condition]
    vitals: list[Observation]
    results: list[Observation]
    immunizations: list[Immunization]
    medications: list[MedicationRequest]
    procedures: list[Procedure]
    unreleased: frozenset[int] = frozenset()  # ids of results shown to staff, not yet to the patient


def encounter_detail(session: Session, scope: PatientScope, public_id: str) -> EncounterDetail | None:
    """One visit with its notes, diagnoses, vital signs, results, vaccines, prescriptions and procedures."""
    found = _one(session, scope, Encounter, public_id)
    if found is None:
        return None

    def linked(table: type[Item], *order: Any) -> list[Item]:
        query = visible(session, scope, select(table), table)
        link = table.encounter_resource_id  # type: ignore[attr-defined]
        return list(
            session.scalars(query.where(col(link) == found.resource_id).order_by(*order, col(table.id)))
        )

    observations = linked(Observation, col(Observation.effective_at))
    unreleased: frozenset[int] = frozenset()
    if scope.staff:  # patients and proxies never get a held result: the rule above left it out
        holds = visibility.holds(session)
        reports = reports_by_resource_id(
            session, scope, {o.report_resource_id for o in observations if o.report_resource_id is not None}
        )
        unreleased = frozenset(
            o.id
            for o in observations
            if o.id is not None
            and not visibility.released(o, reports.get(o.report_resource_id or 0), holds, now=scope.now)
        )
    return EncounterDetail(
        encounter=found,
        notes=linked(ClinicalDocument, col(ClinicalDocument.date)),
        diagnoses=linked(Condition, col(Condition.onset_at)),
        vitals=[o for o in observations if o.category == VITAL_SIGNS],
        results=[o for o in observations if o.category == LABORATORY],
        immunizations=linked(Immunization, col(Immunization.occurred_at)),
        medications=linked(MedicationRequest, col(MedicationRequest.authored_on)),
        procedures=linked(Procedure, col(Procedure.performed_start)),
        unreleased=unreleased,
    )


def documents(
    session: Session, scope: PatientScope, limit: int = 50, offset: int = 0
) -> list[ClinicalDocument]:
    """Notes and documents, newest first, without their text (the list does not show it)."""
    query = visible(session, scope, select(ClinicalDocument), ClinicalDocument)
    return list(
        session.scalars(
            query.options(defer(ClinicalDocument.text))  # type: ignore[arg-type]
            .order_by(col(ClinicalDocument.date).desc(), col(ClinicalDocument.id).desc())
            .limit(limit)
            .offset(offset)
        )
    )


def document(session: Session, scope: PatientScope, public_id: str) -> ClinicalDocument | None:
    """One note with its text: plain text, for the page to escape."""
    return _one(session, scope, ClinicalDocument, public_id)


# Growth --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthPoint:
    measure: str  # weight, height, bmi, head_circumference
    at: datetime
    value: float  # in GROWTH_UNITS[measure]
    unit: str


def growth_measurements(session: Session, scope: PatientScope) -> dict[str, list[GrowthPoint]]:
    """Weight, height (or length), BMI and head circumference over time, oldest first, in metric units."""
    measure_of = {code: measure for measure, codes in GROWTH_CODES.items() for code in codes}
    query = visible(session, scope, select(Observation), Observation)
    rows = session.scalars(
        query.where(col(Observation.code).in_(measure_of))
        .where(col(Observation.value).is_not(None))
        .where(col(Observation.status).not_in(("entered-in-error", "cancelled")))
        .order_by(col(Observation.effective_at), col(Observation.id))
    )
    series: dict[str, list[GrowthPoint]] = {measure: [] for measure in GROWTH_CODES}
    for row in rows:
        measure = measure_of[row.code or ""]
        factor = _UNIT_FACTORS[measure].get(row.unit or GROWTH_UNITS[measure])
        if factor is None or row.value is None or row.effective_at is None:
            continue  # a unit we cannot convert is left out rather than drawn wrong
        series[measure].append(
            GrowthPoint(measure, row.effective_at, row.value * factor, GROWTH_UNITS[measure])
        )
    return series


# Everything else ----------------------------------------------------------------------------------


def resources_of_type(session: Session, scope: PatientScope, resource_type: str) -> list[dict[str, Any]]:
    """The patient's resources of one type as the EHR sent them (Claim, ExplanationOfBenefit, CarePlan...),
    for features that read more than the record pages' columns."""
    rows = session.scalars(
        select(col(FhirResource.resource_json))
        .where(col(FhirResource.patient_id) == scope.patient_id)
        .where(col(FhirResource.resource_type) == resource_type)
        .order_by(col(FhirResource.id))
    )
    return [json.loads(text) for text in rows]


# Export -------------------------------------------------------------------------------------------


def operator_export(session: Session, operator: Operator, patient_fhir_id: str) -> dict[str, Any] | None:
    """Everything held for one patient as a FHIR R4 Bundle, for the operator's `portal export-fhir` only:
    an operator scope (nothing hidden), audited as an export by the operator. None for an unknown patient.
    The patient-facing download is `export.patient_bundle(session, scope)`."""
    patient = session.scalars(select(Patient).where(col(Patient.fhir_id) == patient_fhir_id)).first()
    if patient is None:
        return None
    look = Look(Area.RECORD, "Patient", patient.public_id, action="export")
    return read_as_operator(session, operator, patient, look, export.patient_bundle)


# Counts --------------------------------------------------------------------------------------------


def resource_counts(session: Session, patient_id: int | None = None) -> dict[str, int]:
    """How many resources of each type the portal holds, for one patient or for everyone."""
    query = select(col(FhirResource.resource_type), func.count()).group_by(col(FhirResource.resource_type))
    if patient_id is not None:
        query = query.where(col(FhirResource.patient_id) == patient_id)
    return {str(resource_type): int(count) for resource_type, count in session.execute(query)}
