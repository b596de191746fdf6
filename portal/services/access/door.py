"""The door: the only way to a patient's data. `read` and `act` decide, run a reader or an action with a
`PatientScope` (which only this module can make), and write one audit event, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import audit
from portal.services.access.rules import (
    AgeRules,
    Area,
    Decision,
    Level,
    decide,
    patients_for,
)
from portal.services.errors import Refused

T = TypeVar("T")
P = ParamSpec("P")

_DOOR = object()  # only this module holds it, so only this module can make a PatientScope


@dataclass(frozen=True)
class PatientScope:
    """This viewer may see (or act on) this patient's chart, in this area, in this way, now.

    Every service function that reads or writes a patient's data takes one, never a bare patient id, and
    only the access service makes one (`read`), after deciding and while auditing: a patient query called
    without a decision is a type error, and one built by hand fails at run time.
    """

    patient: Patient
    viewer: Person  # for the operator at the command line, a stand-in that is never stored
    area: Area
    level: Level
    sees_confidential: bool  # False for a limited proxy: confidential items are left out
    sees_patient_messages: bool
    now: datetime  # the moment release holds are judged at
    areas: frozenset[Area]  # every area the viewer may use for this patient, from the same decision
    door: object = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.door is not _DOOR:
            raise TypeError("only the access service opens a patient scope")

    @property
    def patient_id(self) -> int:
        assert self.patient.id is not None
        return self.patient.id

    @property
    def staff(self) -> bool:
        """Staff (and the operator) see results still held from patients, marked so; patients and proxies
        do not."""
        return self.level is Level.STAFF

    def may(self, area: Area) -> bool:
        """Whether the same decision also allows `area` (the summary shows the record part only if so)."""
        return area in self.areas


@dataclass(frozen=True)
class Look:
    """What a request does to a chart, for the decision and its audit event."""

    area: Area
    resource_type: str | None = None
    resource_id: str | None = None
    action: str = "view"


@dataclass(frozen=True)
class Opened(Generic[T]):
    """A chart opened through the door: the scope and what the reader returned."""

    scope: PatientScope
    data: T


@dataclass(frozen=True)
class Asker:
    """Who is asking, on which clinic day, under which age rules, at what moment, from where."""

    person: Person
    today: date
    rules: AgeRules
    now: datetime
    provenance: Provenance


# Built once: building a statement costs more than running it.
_PATIENT_NAMED = select(Patient).where(col(Patient.public_id) == bindparam("public_id"))


def _patient_named(session: Session, asker: Asker, patient_public_id: str, look: Look) -> Patient | None:
    """The patient a URL names; an unknown one is a denied attempt in the log, like any refusal."""
    patient = session.scalars(_PATIENT_NAMED, {"public_id": patient_public_id}).first()
    if patient is None:
        audit.record(
            session,
            action=look.action,
            outcome="denied",
            actor_person_id=asker.person.id,
            actor_role=asker.person.staff_role,
            resource_type=look.resource_type,
            resource_id=look.resource_id,
            provenance=asker.provenance,
        )
    return patient


def read(
    session: Session,
    asker: Asker,
    patient_public_id: str,
    look: Look,
    reader: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Opened[T] | None:
    """Open one patient's chart through the door and read it with `reader`, writing one audit event.

    Finds the patient named in the URL, decides, calls `reader(session, scope, ...)` and records the look,
    allowed or denied, in the caller's transaction. Returns None when the patient is unknown, the person
    may not look, or the reader found nothing for this patient (an item of another patient), so that
    every refusal looks like a missing record; the caller answers 404 after the transaction commits.
    """
    person = asker.person
    patient = _patient_named(session, asker, patient_public_id, look)
    if patient is None:
        return None
    decision = decide(session, person, patient, look.area, today=asker.today, rules=asker.rules)
    opened: Opened[T] | None = None
    if decision.allowed and decision.level is not None:
        scope = PatientScope(
            patient,
            person,
            look.area,
            decision.level,
            decision.sees_confidential,
            decision.sees_patient_messages,
            asker.now,
            decision.areas,
            _DOOR,
        )
        data = reader(session, scope, *args, **kwargs)
        opened = Opened(scope, data) if data is not None else None
    _audit(
        session,
        person,
        patient,
        decision,
        opened is not None,
        action=look.action,
        where=asker.provenance,
        resource_type=look.resource_type,
        resource_id=look.resource_id,
    )
    return opened


@dataclass(frozen=True)
class OpenedPage(Generic[T]):
    """A chart opened for a page: the read, and everyone the person can act for (for the switcher)."""

    opened: Opened[T]
    others: list[tuple[Patient, Level]]


@dataclass(frozen=True)
class Bound(Generic[T]):
    """A reader with its arguments, waiting for the session and the scope (see `bind`)."""

    reader: Callable[..., T | None]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def __call__(self, session: Session, scope: PatientScope) -> T | None:
        return self.reader(session, scope, *self.args, **self.kwargs)


def bind(
    reader: Callable[Concatenate[Session, PatientScope, P], T | None], /, *args: P.args, **kwargs: P.kwargs
) -> Bound[T]:
    """A reader and its arguments (checked here by mypy), to hand to `read_page` through `run_db`."""
    return Bound(reader, args, kwargs)


def read_page(
    session: Session, asker: Asker, patient_public_id: str, look: Look, reader: Bound[T]
) -> OpenedPage[T] | None:
    """`read` for a chart page: also lists whom a patient or proxy can switch to (staff switch nobody)."""
    opened = read(session, asker, patient_public_id, look, reader)
    if opened is None:
        return None
    person = asker.person
    scope = opened.scope
    own_chart = scope.patient if scope.level is Level.SELF else None
    others = (
        patients_for(session, person, today=asker.today, rules=asker.rules, own_chart=own_chart)
        if person.staff_role is None
        else []
    )
    return OpenedPage(opened, others)


def _audit(
    session: Session,
    person: Person,
    patient: Patient,
    decision: Decision,
    allowed: bool,
    *,
    action: str,
    where: Provenance | None,
    resource_type: str | None,
    resource_id: str | None,
) -> None:
    role = person.staff_role or ("patient" if decision.level is Level.SELF else "proxy")
    w = where or Provenance()
    audit.record(
        session,
        action=action,
        outcome="allowed" if allowed else "denied",
        actor_person_id=person.id,
        actor_role=role,
        on_behalf_of_person_id=patient.person_id if role == "proxy" else None,
        patient_id=patient.id,
        resource_type=resource_type,
        resource_id=resource_id,
        provenance=w,
    )


@dataclass(frozen=True)
class Acted(Generic[T]):
    """A change made (or refused) through the door: the scope, what the action returned, or the refusal."""

    scope: PatientScope
    data: T | None
    refused: Refused | None = None


def act(
    session: Session,
    asker: Asker,
    patient_public_id: str,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Acted[T] | None:
    """Change one patient's data through the door with `action`, writing one audit event.

    Returns None (one denied event) when the patient is unknown, the person may not act, or the action
    found nothing for this patient; the caller answers 404 after the commit. An action that raises
    `Refused` has its changes undone (a savepoint) and is recorded as denied; the refusal is returned.
    """
    person = asker.person
    patient = _patient_named(session, asker, patient_public_id, look)
    if patient is None:
        return None
    decision = decide(session, person, patient, look.area, today=asker.today, rules=asker.rules)
    if not decision.allowed or decision.level is None:
        _audit_look(session, person, patient, decision, False, look, asker.provenance, None)
        return None
    scope = PatientScope(
        patient,
        person,
        look.area,
        decision.level,
        decision.sees_confidential,
        decision.sees_patient_messages,
        asker.now,
        decision.areas,
        _DOOR,
    )
    acted, resource_id = _carry_out(session, scope, action, *args, **kwargs)
    allowed = acted is not None and acted.refused is None
    _audit_look(session, person, patient, decision, allowed, look, asker.provenance, resource_id)
    return acted


def _carry_out(
    session: Session,
    scope: PatientScope,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> tuple[Acted[T] | None, str | None]:
    """Run the action in a savepoint: kept when it returns something, undone when it refuses or finds
    nothing. Also returns the public id of what it made, when it made something that has one."""
    savepoint = session.begin_nested()
    try:
        data = action(session, scope, *args, **kwargs)
    except Refused as refused:
        savepoint.rollback()
        return Acted(scope, None, refused), None
    if data is None:
        savepoint.rollback()
        return None, None
    savepoint.commit()
    made = getattr(data, "public_id", None)
    return Acted(scope, data), made if isinstance(made, str) else None


def _audit_look(
    session: Session,
    person: Person,
    patient: Patient,
    decision: Decision,
    allowed: bool,
    look: Look,
    where: Provenance,
    made_id: str | None,
) -> None:
    _audit(
        session,
        person,
        patient,
        decision,
        allowed,
        action=look.action,
        where=where,
        resource_type=look.resource_type,
        resource_id=look.resource_id or made_id,
    )


def acting(
    asker: Asker,
    patient_public_id: str,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Callable[[Session], Acted[T] | None]:
    """`act`, waiting for its transaction: what a view hands to `run_db` (so no view holds a session)."""

    def unit_of_work(session: Session) -> Acted[T] | None:
        return act(session, asker, patient_public_id, look, action, *args, **kwargs)

    return unit_of_work


def read_many(
    session: Session,
    asker: Asker,
    patients: list[Patient],
    look: Look,
    reader: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> list[Opened[T]]:
    """A staff list that shows several patients' items (a queue): for each patient, the decision, the
    reader with that patient's scope, and one audit event (allowed, or denied when the person may not look
    or the reader found nothing). Patients the person may not see are left out of the list."""
    found: list[Opened[T]] = []
    for patient in patients:
        decision = decide(session, asker.person, patient, look.area, today=asker.today, rules=asker.rules)
        opened: Opened[T] | None = None
        if decision.allowed and decision.level is not None:
            scope = PatientScope(
                patient,
                asker.person,
                look.area,
                decision.level,
                decision.sees_confidential,
                decision.sees_patient_messages,
                asker.now,
                decision.areas,
                _DOOR,
            )
            data = reader(session, scope, *args, **kwargs)
            opened = Opened(scope, data) if data is not None else None
        _audit_look(
            session, asker.person, patient, decision, opened is not None, look, asker.provenance, None
        )
        if opened is not None:
            found.append(opened)
    return found


def _scope(
    patient: Patient,
    viewer: Person,
    area: Area,
    level: Level,
    now: datetime,
    areas: frozenset[Area],
    *,
    sees_confidential: bool,
) -> PatientScope:
    """A scope for the door's trusted callers in `access.trusted` (the operator, a guest), who decide
    without a grant: never for a request's person, who goes through `read` or `act`."""
    return PatientScope(patient, viewer, area, level, sees_confidential, sees_confidential, now, areas, _DOOR)
