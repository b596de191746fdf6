"""Reading the audit log: search by patient, person, action and time, and CSV export.

Both show every committed event, linked or still waiting for the sequencer (it is a fact either way), in
the order they were written (by id). CSV cells that a spreadsheet would run as a formula are defused.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TextIO

from sqlalchemy import CompoundSelect, Engine, union
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, func, select

from portal.models.audit import AuditEvent
from portal.models.people import Patient, Person
from portal.services.audit.chain import utc_iso
from portal.services.audit.writing import ACTIONS

CSV_COLUMNS = (
    "id",
    "seq",
    "occurred_at",
    "actor_person_id",
    "actor_role",
    "on_behalf_of_person_id",
    "patient_id",
    "patient_fhir_id",
    "action",
    "resource_type",
    "resource_id",
    "route",
    "outcome",
    "client_address",
    "request_id",
    "prev_hash",
    "hash",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_PER_PAGE = 500


@dataclass(frozen=True)
class AuditRow:
    event: AuditEvent
    actor_name: str | None
    patient_fhir_id: str | None
    on_behalf_of_name: str | None = None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    page: int
    per_page: int
    counted_all: bool = True  # False: more than COUNT_LIMIT events match and `total` stops there

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


COUNT_LIMIT = 10_000


def start_of(day: date | datetime) -> datetime:
    if isinstance(day, datetime):
        if day.tzinfo is None:
            raise ValueError("naive datetime given to an audit search")
        return day
    return datetime.combine(day, time.min, tzinfo=UTC)


def end_of(day: date | datetime) -> datetime:
    """The exclusive end: a date means the whole of that day (UTC)."""
    if isinstance(day, datetime):
        return start_of(day)
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def filtered(
    *,
    patient_id: int | None,
    person_id: int | None,
    action: str | None,
    since: date | datetime | None,
    until: date | datetime | None,
) -> list[Any]:
    conditions = shared_conditions(patient_id=patient_id, action=action, since=since, until=until)
    if person_id is not None:
        conditions.append(
            (col(AuditEvent.actor_person_id) == person_id)
            | (col(AuditEvent.on_behalf_of_person_id) == person_id)
        )
    return conditions


def shared_conditions(
    *,
    patient_id: int | None,
    action: str | None,
    since: date | datetime | None,
    until: date | datetime | None,
) -> list[Any]:
    """The filters other than the person."""
    conditions: list[Any] = []
    if patient_id is not None:
        conditions.append(col(AuditEvent.patient_id) == patient_id)
    if action is not None:
        if action not in ACTIONS:
            raise ValueError(f"unknown audit action {action!r}")
        conditions.append(col(AuditEvent.action) == action)
    if since is not None:
        conditions.append(col(AuditEvent.occurred_at) >= start_of(since))
    if until is not None:
        conditions.append(col(AuditEvent.occurred_at) < end_of(until))
    return conditions


def newest_ids_of_person(person_id: int, others: list[Any], limit: int) -> CompoundSelect[tuple[int]]:
    """The ids of the person's newest `limit` events as actor or as the person a proxy acted for.

    Each side is read newest first along its (person, id) index and stops at `limit` (migration 0022),
    where one OR would fetch and sort every event of a busy staff member; UNION drops an event that is on
    both sides.
    """
    sides = []
    for person_column in (AuditEvent.actor_person_id, AuditEvent.on_behalf_of_person_id):
        side = (
            select(col(AuditEvent.id))
            .where(col(person_column) == person_id, *others)
            .order_by(col(AuditEvent.id).desc())
            .limit(limit)
            .subquery()
        )
        sides.append(select(side.c.id))
    return union(*sides)


def search(
    session: Session,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    page: int = 1,
    per_page: int = 50,
) -> AuditPage:
    """One page of events, newest first, by patient, by person (as actor or proxy), action and dates.

    Dates are whole UTC days, both ends included; datetimes are exact (since included, until excluded).
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError("page must be at least 1 and per_page between 1 and 500")
    # Counting stops at COUNT_LIMIT: a busy person or patient has millions of events, and an exact count
    # of them would cost more than the page itself.
    conditions = shared_conditions(patient_id=patient_id, action=action, since=since, until=until)
    if person_id is None:
        matching = select(col(AuditEvent.id)).where(*conditions).limit(COUNT_LIMIT + 1).subquery()
        total = session.exec(select(func.count()).select_from(matching)).one()
    else:
        counted = newest_ids_of_person(person_id, conditions, COUNT_LIMIT + 1).subquery()
        total = session.exec(select(func.count()).select_from(counted)).one()
        ids = newest_ids_of_person(person_id, conditions, page * per_page).subquery()
        conditions = [col(AuditEvent.id).in_(select(ids.c.id))]
    on_behalf = aliased(Person)
    statement = (
        select(AuditEvent, Person.display_name, Patient.fhir_id, on_behalf.display_name)
        .outerjoin(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .outerjoin(Patient, col(Patient.id) == col(AuditEvent.patient_id))
        .outerjoin(on_behalf, col(on_behalf.id) == col(AuditEvent.on_behalf_of_person_id))
        .where(*conditions)
        .order_by(col(AuditEvent.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        AuditRow(event, name, fhir_id, behalf_name)
        for event, name, fhir_id, behalf_name in session.exec(statement)
    ]
    return AuditPage(rows, min(total, COUNT_LIMIT), page, per_page, counted_all=total <= COUNT_LIMIT)


def csv_cell(value: object) -> str:
    """One CSV cell, with text that a spreadsheet would run as a formula defused by a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return utc_iso(value)
    cell = str(value)
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def export_rows(
    session: Session,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    after_id: int = 0,
    through_id: int | None = None,
    limit: int | None = None,
) -> Iterator[tuple[int, list[str]]]:
    """(id, cells) for each matching event, oldest first, linked or waiting, optionally in a range of ids."""
    conditions = filtered(patient_id=patient_id, person_id=person_id, action=action, since=since, until=until)
    conditions.append(col(AuditEvent.id) > after_id)
    if through_id is not None:
        conditions.append(col(AuditEvent.id) <= through_id)
    statement = (
        select(AuditEvent, Patient.fhir_id)
        .outerjoin(Patient, col(Patient.id) == col(AuditEvent.patient_id))
        .where(*conditions)
        .order_by(col(AuditEvent.id))
        .limit(limit)
        .execution_options(yield_per=1000)
    )
    for event, fhir_id in session.exec(statement):
        values = {**event.model_dump(), "patient_fhir_id": fhir_id}
        assert event.id is not None
        yield event.id, [csv_cell(values[name]) for name in CSV_COLUMNS]


def csv_writer(out: TextIO) -> Any:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    return writer


def export_csv(
    session: Session,
    out: TextIO,
    *,
    patient_id: int | None = None,
    person_id: int | None = None,
    action: str | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
) -> int:
    """Write the matching events to `out` as CSV, in the caller's transaction; returns how many."""
    writer = csv_writer(out)
    count = 0
    rows = export_rows(
        session, patient_id=patient_id, person_id=person_id, action=action, since=since, until=until
    )
    for _, cells in rows:
        writer.writerow(cells)
        count += 1
    return count


def export_csv_in_chunks(
    engine: Engine,
    out: TextIO,
    *,
    patient_id: int | None = None,
    since: date | datetime | None = None,
    until: date | datetime | None = None,
    chunk: int = 5000,
) -> int:
    """The same as export_csv, in short transactions up to the newest event at the start: a long export of
    a SQLite log then never holds the write lock (and so every audited request) for its whole length."""
    with Session(engine) as session, session.begin():
        through_id = session.exec(select(func.max(AuditEvent.id))).one() or 0
    writer = csv_writer(out)
    count, after = 0, 0
    while True:
        with Session(engine) as session, session.begin():
            rows = list(
                export_rows(
                    session,
                    patient_id=patient_id,
                    since=since,
                    until=until,
                    after_id=after,
                    through_id=through_id,
                    limit=chunk,
                )
            )
        writer.writerows(cells for _, cells in rows)
        count += len(rows)
        if len(rows) < chunk:
            return count
        after = rows[-1][0]
