"""The admin's audit screen: filters as typed resolved to people, one page of events, a CSV download.

The search and the download are each recorded as an event (`view` and `export` of `audit_event`), on the
patient searched for if any, in the same transaction as the read.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, func, select

from portal.models.audit import AuditEvent
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services.audit.search import AuditPage, export_csv, filtered, search
from portal.services.audit.writing import record

EXPORT_LIMIT = 100_000  # events one download from the screen may hold; `portal audit export` has no limit


@dataclass(frozen=True)
class Filters:
    """What an admin asked the log for: a patient and a person as typed, an action, a span of time."""

    patient: str = ""  # a patient's FHIR id
    person: str = ""  # someone's email, or their name or part of it
    action: str | None = None
    since: datetime | None = None  # included
    until: datetime | None = None  # excluded


@dataclass(frozen=True)
class Found:
    """The filters resolved to rows, or what is wrong with them (by form field)."""

    patient_id: int | None
    person_id: int | None
    problems: dict[str, str]


@dataclass(frozen=True)
class Screen:
    page: AuditPage | None  # None when the filters name someone the portal does not know
    problems: dict[str, str]


@dataclass(frozen=True)
class Download:
    csv: str | None  # None when refused: see problems
    count: int
    problems: dict[str, str]


def people_matching(session: Session, text: str, *, limit: int = 2) -> list[int]:
    """Ids of the people with this email, else this exact name, else a name containing it (case ignored)."""
    text = text.strip()
    if not text:
        return []
    if "@" in text:
        # Addresses are stored lower-cased (identity's clean_email), so the unique index finds it.
        query = select(Person.id).where(col(Person.email) == text.lower())
        return [found for found in session.exec(query.limit(limit)) if found is not None]
    exact = select(Person.id).where(func.lower(col(Person.display_name)) == text.lower())
    found = [found for found in session.exec(exact.limit(limit)) if found is not None]
    if found:
        return found
    partial = select(Person.id).where(col(Person.display_name).icontains(text, autoescape=True))
    return [found for found in session.exec(partial.limit(limit)) if found is not None]


def resolve(session: Session, filters: Filters) -> Found:
    problems: dict[str, str] = {}
    patient_id = person_id = None
    if filters.patient:
        patient_id = session.exec(select(Patient.id).where(col(Patient.fhir_id) == filters.patient)).first()
        if patient_id is None:
            problems["patient"] = "No patient has that FHIR id."
    if filters.person:
        people = people_matching(session, filters.person)
        if not people:
            problems["person"] = "No one has that email or name."
        elif len(people) > 1:
            problems["person"] = "More than one person matches: enter their email instead."
        else:
            person_id = people[0]
    return Found(patient_id, person_id, problems)


def record_look(session: Session, action: str, found: Found, *, actor: Person, where: Provenance) -> None:
    """The admin's own look at the log, as one event: on the patient searched for, if any."""
    record(
        session,
        action=action,
        actor_person_id=actor.id,
        actor_role=actor.staff_role,
        patient_id=found.patient_id,
        resource_type="audit_event",
        provenance=where,
    )


def screen_search(
    session: Session, filters: Filters, *, page: int, per_page: int, actor: Person, where: Provenance
) -> Screen:
    """One page of the log for the admin's screen; the search itself is recorded (action "view")."""
    found = resolve(session, filters)
    result = None
    if not found.problems:
        result = search(
            session,
            patient_id=found.patient_id,
            person_id=found.person_id,
            action=filters.action,
            since=filters.since,
            until=filters.until,
            page=page,
            per_page=per_page,
        )
    record_look(session, "view", found, actor=actor, where=where)
    return Screen(result, found.problems)


def screen_export(session: Session, filters: Filters, *, actor: Person, where: Provenance) -> Download:
    """The events the screen's filters select, as CSV text, recorded (action "export") before any row."""
    found = resolve(session, filters)
    if found.problems:
        return Download(None, 0, found.problems)
    selected: dict[str, Any] = {
        "patient_id": found.patient_id,
        "person_id": found.person_id,
        "action": filters.action,
        "since": filters.since,
        "until": filters.until,
    }
    count = session.exec(select(func.count()).select_from(AuditEvent).where(*filtered(**selected))).one()
    if count >= EXPORT_LIMIT:
        problem = (
            f"{count} events match: a download holds fewer than {EXPORT_LIMIT}. "
            "Narrow the dates, or use `portal audit export` on the server."
        )
        return Download(None, count, {"download": problem})
    record_look(session, "export", found, actor=actor, where=where)
    out = io.StringIO()
    written = export_csv(session, out, **selected)
    return Download(out.getvalue(), written, {})
