"""The rows an import writes besides the stored resources: patients, identifiers, the record pages'
projections and observation components; `Links` gathers the references that point at confidential items.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlmodel import Session, col

from portal.fhir import projections
from portal.fhir.reading import (
    PATIENT_FIELDS,
    Parsed,
)
from portal.fhir.references import (
    Key,
    Resolver,
    identifier_pairs,
)
from portal.models.base import new_public_id
from portal.models.people import Patient
from portal.models.records import FhirIdentifier, Observation, ObservationComponent


class Links:
    """Reference lookups for the projections, once the file's own rows have ids."""

    def __init__(self, resolver: Resolver, resolved: dict[str, Key]) -> None:
        self.resolver = resolver
        self.resolved = resolved

    def key(self, reference: Any) -> Key | None:
        if reference is None or not reference.reference:
            return None
        return self.resolved.get(reference.reference)

    def row_id(self, reference: Any) -> int | None:
        key = self.key(reference)
        return self.resolver.row_ids.get(key) if key else None

    def name(self, reference: Any) -> str | None:
        if reference is None:
            return None
        if reference.display:
            return str(reference.display)
        key = self.key(reference)
        return self.resolver.labels.get(key) if key else None


def owner_key(item: Parsed, resolved: dict[str, Key]) -> Key | None:
    """The patient a resource belongs to (a Patient is its own), as resolved in this file."""
    if item.resource_type == "Patient":
        return item.key
    for name in PATIENT_FIELDS:
        value = item.entry.raw.get(name)
        if isinstance(value, dict) and isinstance(value.get("reference"), str):
            key = resolved.get(value["reference"])
            if key and key[0] == "Patient":
                return key
    return None


def write_patients(
    session: Session, changed: list[Parsed], resolved: dict[str, Key], now: datetime
) -> dict[Key, int]:
    wanted = {key for item in changed if (key := owner_key(item, resolved))}
    stored = {
        patient.fhir_id: patient
        for patient in session.scalars(
            select(Patient).where(col(Patient.fhir_id).in_(sorted(fhir_id for _, fhir_id in wanted)))
        )
    }
    for item in changed:
        if item.resource_type != "Patient":
            continue
        columns = {
            **projections.patient_columns(item.model),
            "version_id": projections.clip(item.version_id, 64),
            "last_updated": item.last_updated,
            "resource_json": item.text,
            "updated_at": now,
        }
        patient = stored.get(item.key[1])
        if patient is None:
            patient = Patient(fhir_id=item.key[1], created_at=now, **columns)
            session.add(patient)
            stored[item.key[1]] = patient
        else:
            for name, value in columns.items():
                setattr(patient, name, value)
    session.flush()
    return {("Patient", fhir_id): patient.id for fhir_id, patient in stored.items() if patient.id is not None}


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows through Core: the ORM's bulk path costs more per row than the database does.

    On PostgreSQL the rows go to psycopg's own executemany (one short statement, parsed once, its rows
    pipelined): SQLAlchemy's multi-row VALUES names every value, and psycopg then spends more CPU turning
    those thousands of names into `$n` than the database spends storing the rows. The values are plain
    str, int, float, bool, datetime and None, which psycopg adapts as SQLAlchemy would."""
    if not rows:
        return
    connection = session.connection()
    columns = table.__table__.columns
    names = list(rows[0])
    # What SQLAlchemy would fill in: the constant defaults of the columns the rows leave out.
    defaults = {
        column.name: column.default
        for column in columns
        if column.name not in rows[0] and column.default is not None
    }
    if connection.dialect.name != "postgresql" or not all(default.is_scalar for default in defaults.values()):
        connection.execute(insert(table.__table__), rows)
        return
    constants = {name: default.arg for name, default in defaults.items()}
    statement = insert(table.__table__).values({name: bindparam(name) for name in [*names, *constants]})
    connection.exec_driver_sql(
        str(statement.compile(dialect=connection.dialect)),
        [{**constants, **{name: row[name] for name in names}} for row in rows],
    )


def write_identifiers(
    session: Session, changed: list[Parsed], row_ids: dict[Key, int], existing: Collection[Key]
) -> None:
    replaced = [row_ids[item.key] for item in changed if item.key in existing]
    if replaced:
        session.execute(delete(FhirIdentifier).where(col(FhirIdentifier.resource_id).in_(replaced)))
    rows = [
        {
            "resource_id": row_ids[item.key],
            "resource_type": item.resource_type,
            "system": system,
            "value": value,
        }
        for item in changed
        for system, value in identifier_pairs(item.entry.raw)
    ]
    insert_rows(session, FhirIdentifier, rows)


def write_projections(
    session: Session,
    changed: list[Parsed],
    row_ids: dict[Key, int],
    patient_ids: dict[Key, int],
    links: Links,
    existing: Collection[Key],
) -> None:
    by_type: dict[str, list[Parsed]] = {}
    for item in changed:
        if item.resource_type in projections.PROJECTIONS:
            by_type.setdefault(item.resource_type, []).append(item)
    observations: dict[int, Parsed] = {}  # by fhir_resource.id
    reports: list[tuple[Parsed, int]] = []
    for resource_type, items in by_type.items():
        table, project = projections.PROJECTIONS[resource_type]
        replaced = [row_ids[item.key] for item in items if item.key in existing]  # new ones have none
        current = (
            {
                projection.resource_id: projection  # type: ignore[attr-defined]
                for projection in session.scalars(
                    select(table).where(col(table.resource_id).in_(replaced))  # type: ignore[attr-defined]
                )
            }
            if replaced
            else {}
        )
        new_rows = []
        for item in items:
            patient_key = owner_key(item, links.resolved)
            patient_id = patient_ids.get(patient_key) if patient_key else None
            resource_id = row_ids[item.key]
            if patient_id is None:
                continue  # a record about no patient has no page to appear on; its JSON is kept
            columns = {**project(item.model, links), "patient_id": patient_id}
            projection = current.get(resource_id)
            if projection is None:
                new_rows.append({"resource_id": resource_id, "public_id": new_public_id(), **columns})
            else:
                for name, value in columns.items():
                    setattr(projection, name, value)
            if resource_type == "Observation":
                observations[resource_id] = item
            elif resource_type == "DiagnosticReport":
                reports.append((item, resource_id))
        insert_rows(session, table, new_rows)
    session.flush()
    write_components(session, observations)
    report_of = {  # a result in two reports belongs to the later one, as when each was written in turn
        result_id: report_row_id
        for item, report_row_id in reports
        for result in item.model.result or []
        if (result_id := links.row_id(result)) is not None
    }
    if report_of:
        observations_table = Observation.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            update(observations_table)
            .where(observations_table.c.resource_id == bindparam("result_id"))
            .values(report_resource_id=bindparam("report_id")),
            [{"result_id": result_id, "report_id": report_id} for result_id, report_id in report_of.items()],
        )


def write_components(session: Session, observations: dict[int, Parsed]) -> None:
    with_parts = {row_id: item for row_id, item in observations.items() if item.model.component}
    if not with_parts:
        return
    ids = dict(
        session.execute(
            select(col(Observation.resource_id), col(Observation.id)).where(
                col(Observation.resource_id).in_(list(with_parts))
            )
        ).all()
    )
    session.execute(
        delete(ObservationComponent).where(col(ObservationComponent.observation_id).in_(ids.values()))
    )
    rows = [
        {"observation_id": ids[row_id], **component}
        for row_id, item in with_parts.items()
        for component in projections.observation_components(item.model)
    ]
    insert_rows(session, ObservationComponent, rows)
