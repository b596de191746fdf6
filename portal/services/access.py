"""The one place that decides who may see or do what for which patient, and audits the decision.

Rules (from the clinic's settings, computed from the date of birth on every request, so no nightly job
can be forgotten):
- the patient's own account sees everything about them, adolescents included;
- a parent or guardian has full access to a child under `full_proxy_until_age` (12), a limited view
  from then until `adult_at_age` (18), and none after that, unless a guardian grant is marked
  `beyond_majority`; an adult caregiver has the level the grant gives;
- a limited view hides confidential items (sensitive codes, meta.security R or V) and the patient's own
  messages;
- staff see what their job needs, by role (`STAFF_AREAS`);
- the operator at the command line (`portal print`, `portal export-fhir`) has no account: `read_as_operator`
  opens the chart with every area, audited as "system" with the command's `cli:` provenance.

One decision gives a scope every area the viewer may use for this patient (`scope.areas`, `scope.may`),
so a page that shows the banner to all staff and the record only to some decides and audits once.

Printed documents, by area. The front desk prints what a patient asks for at the desk: the after-visit
summary at checkout, the immunization record schools ask for, a health summary on request (DOCUMENTS).
Test results and the care team's notes are the record itself (RECORD), which the front desk does not
read: every document printed without RECORD leaves them out, so no PDF is a way around the results page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar

from sqlmodel import Session, select

from portal.models.access import ProxyGrant
from portal.models.people import Patient, Person, StaffRole
from portal.provenance import Provenance
from portal.services import audit
from portal.services.errors import Refused

T = TypeVar("T")
P = ParamSpec("P")


class Level(StrEnum):
    SELF = "self"
    FULL = "full"
    LIMITED = "limited"
    STAFF = "staff"


class Area(StrEnum):
    """What part of a patient's chart an action touches."""

    RECORD = "record"  # results, medications, problems, visits, notes, growth, immunizations
    MESSAGES = "messages"
    APPOINTMENTS = "appointments"
    BILLING = "billing"
    DOCUMENTS = "documents"  # summaries and PDFs
    DEMOGRAPHICS = "demographics"  # name, age, contact details: the banner
    PROXIES = "proxies"  # who holds proxy access, grants and revocations
    AUDIT = "audit"  # who viewed the record


# What each staff role may touch. Admin reads the audit log; nobody edits it.
# Keyed by StaffRole (a str, so a stored role string finds its row).
STAFF_AREAS: dict[str, frozenset[Area]] = {
    StaffRole.CLINICIAN: frozenset(
        {Area.RECORD, Area.MESSAGES, Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS}
    ),
    StaffRole.FRONT_DESK: frozenset({Area.APPOINTMENTS, Area.DOCUMENTS, Area.DEMOGRAPHICS, Area.PROXIES}),
    StaffRole.BILLING: frozenset({Area.BILLING, Area.DEMOGRAPHICS}),
    StaffRole.ADMIN: frozenset({Area.AUDIT, Area.PROXIES, Area.DEMOGRAPHICS}),
}
# A proxy, even a full one, does not manage who else holds access, nor read the access log.
PROXY_AREAS = frozenset(set(Area) - {Area.PROXIES, Area.AUDIT})


@dataclass(frozen=True)
class AgeRules:
    full_proxy_until_age: int = 12
    adult_at_age: int = 18


@dataclass(frozen=True)
class Decision:
    allowed: bool
    level: Level | None
    sees_confidential: bool = False
    sees_patient_messages: bool = False
    areas: frozenset[Area] = frozenset()  # every area this viewer may use for this patient


DENIED = Decision(allowed=False, level=None)


def age_on(birth_date: date, today: date) -> int:
    """Whole years; someone born on 29 February turns a year older on 1 March in other years."""
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


def grant_level(grant: ProxyGrant, birth_date: date | None, today: date, rules: AgeRules) -> Level | None:
    """The level a proxy grant gives today, after its dates and the patient's age; None if none."""
    if grant.revoked_at is not None or today < grant.starts_on:
        return None
    if grant.ends_on is not None and today >= grant.ends_on:
        return None
    level = Level(grant.level)
    if birth_date is None:
        return level if grant.relationship == "caregiver" else None
    age = age_on(birth_date, today)
    if age >= rules.adult_at_age:
        if grant.relationship == "parent" or (grant.relationship == "guardian" and not grant.beyond_majority):
            return None
        return level
    if age >= rules.full_proxy_until_age:
        return Level.LIMITED
    return level


ALL_AREAS = frozenset(Area)


def decide(
    session: Session, person: Person, patient: Patient, area: Area, *, today: date, rules: AgeRules
) -> Decision:
    """What `person` may do in `area` of `patient`'s chart today. Pure apart from reading grants."""
    if person.disabled:
        return DENIED
    if person.staff_role is not None:
        areas = STAFF_AREAS.get(person.staff_role, frozenset())
        if area in areas:
            confidential = person.staff_role == StaffRole.CLINICIAN
            return Decision(
                True,
                Level.STAFF,
                sees_confidential=confidential,
                sees_patient_messages=confidential,
                areas=areas,
            )
        return DENIED
    if patient.person_id is not None and patient.person_id == person.id:
        return Decision(True, Level.SELF, sees_confidential=True, sees_patient_messages=True, areas=ALL_AREAS)
    if area not in PROXY_AREAS:
        return DENIED
    best: Level | None = None
    for grant in session.exec(
        select(ProxyGrant).where(ProxyGrant.proxy_person_id == person.id, ProxyGrant.patient_id == patient.id)
    ):
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is Level.FULL or (level is Level.LIMITED and best is None):
            best = level
    if best is None:
        return DENIED
    full = best is Level.FULL
    return Decision(True, best, sees_confidential=full, sees_patient_messages=full, areas=PROXY_AREAS)


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
    patient = session.exec(select(Patient).where(Patient.public_id == patient_public_id)).first()
    if patient is None:
        audit.record(
            session,
            action=look.action,
            outcome="denied",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            resource_type=look.resource_type,
            resource_id=look.resource_id,
            provenance=asker.provenance,
        )
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
    others = (
        patients_for(session, person, today=asker.today, rules=asker.rules)
        if person.staff_role is None
        else []
    )
    return OpenedPage(opened, others)


@dataclass(frozen=True)
class Operator:
    """The clinic's operator at the command line (or the demo's set-up): trusted, audited as "system"."""

    today: date
    rules: AgeRules
    now: datetime
    provenance: Provenance


OPERATOR_ROLE = "system"


def read_as_operator(
    session: Session,
    operator: Operator,
    patient: Patient,
    look: Look,
    reader: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> T | None:
    """The command line's read of a chart: the operator sees everything (held results marked, as staff
    do), and the look is audited (actor role "system", the command's `cli:` provenance), denied when the
    reader found nothing. Never called from a request: views go through `read`."""
    if not (operator.provenance.route or "").startswith("cli:"):
        raise ValueError("the operator reads from the command line only")
    viewer = Person(display_name="Clinic operator")  # never stored: the scope's viewer has no account
    scope = PatientScope(patient, viewer, look.area, Level.STAFF, True, True, operator.now, ALL_AREAS, _DOOR)
    data = reader(session, scope, *args, **kwargs)
    audit.record(
        session,
        action=look.action,
        outcome="allowed" if data is not None else "denied",
        actor_role=OPERATOR_ROLE,
        patient_id=patient.id,
        resource_type=look.resource_type,
        resource_id=look.resource_id,
        provenance=operator.provenance,
    )
    return data


@dataclass(frozen=True)
class Chart(Generic[T]):
    """An opened chart: whose it is, what the viewer may see, and what was loaded for the page."""

    patient: Patient
    decision: Decision
    data: T


def open_chart(
    session: Session,
    person: Person,
    patient_public_id: str,
    area: Area,
    load: Callable[[Session, Patient, Decision], T | None],
    *,
    action: str = "view",
    today: date,
    rules: AgeRules,
    where: Provenance | None = None,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> Chart[T] | None:
    """Find the patient named in the URL, check access, load what the page shows, and audit it: one event.

    Returns None (and audits a denial) when the patient is unknown, the person may not see them, or
    `load` finds nothing for this patient, so that a record of another patient looks exactly like a
    missing one. The caller answers 404 after the transaction commits, so denials stay in the log.
    """
    patient = session.exec(select(Patient).where(Patient.public_id == patient_public_id)).first()
    if patient is None:
        w = where or Provenance()
        audit.record(
            session,
            action=action,
            outcome="denied",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            resource_type=resource_type,
            resource_id=resource_id,
            provenance=w,
        )
        return None
    decision = decide(session, person, patient, area, today=today, rules=rules)
    data = load(session, patient, decision) if decision.allowed else None
    found = decision.allowed and data is not None
    _audit(
        session,
        person,
        patient,
        decision,
        found,
        action=action,
        where=where,
        resource_type=resource_type,
        resource_id=resource_id,
    )
    return Chart(patient, decision, data) if found and data is not None else None


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


def patients_for(
    session: Session, person: Person, *, today: date, rules: AgeRules
) -> list[tuple[Patient, Level]]:
    """Everyone `person` can act for today (themself first, then proxies by first name), for the switcher."""
    found: list[tuple[Patient, Level]] = []
    own = session.exec(select(Patient).where(Patient.person_id == person.id)).first()
    if own is not None:
        found.append((own, Level.SELF))
    rows = session.exec(
        select(ProxyGrant, Patient)
        .join(Patient, Patient.id == ProxyGrant.patient_id)  # type: ignore[arg-type]
        .where(ProxyGrant.proxy_person_id == person.id)
    ).all()
    best: dict[int, tuple[Patient, Level]] = {}
    for grant, patient in rows:
        level = grant_level(grant, patient.birth_date, today, rules)
        if level is None or patient.id is None or (own is not None and patient.id == own.id):
            continue
        if patient.id not in best or level is Level.FULL:
            best[patient.id] = (patient, level)
    found.extend(sorted(best.values(), key=lambda pair: (pair[0].given_name, pair[0].family_name)))
    return found


# =============================================================== changes through the door, and screen verbs
# Reading has `read`; a change has `act` (and, for the clinic's own commands, `act_as_operator`): decide,
# call the action with a scope, write one audit event, all in the caller's transaction. The verbs below
# say what the proxy screens and the front desk may offer, so views and templates ask rather than decide.


class Screen(StrEnum):
    """Staff screens that are not about one patient's chart."""

    FRONT_DESK = "front_desk"  # activation codes and the patient search
    PROXIES = "proxies"  # who may act for a patient, as the clinic manages it


SCREEN_ROLES: dict[Screen, frozenset[StaffRole]] = {
    Screen.FRONT_DESK: frozenset({StaffRole.FRONT_DESK, StaffRole.ADMIN}),
    Screen.PROXIES: frozenset({StaffRole.FRONT_DESK, StaffRole.ADMIN}),
}


def may_use_screen(person: Person, screen: Screen) -> bool:
    """Whether this member of staff's role opens this screen (never a patient, never a disabled account)."""
    return (
        not person.disabled
        and person.staff_role is not None
        and person.staff_role in SCREEN_ROLES.get(screen, frozenset())
    )


def require_screen(person: Person, screen: Screen) -> None:
    """Refuses (code "screen_not_allowed") anyone whose role does not open `screen`."""
    if not may_use_screen(person, screen):
        raise Refused("screen_not_allowed", screen=screen.value)


def is_adult(patient: Patient, *, today: date, rules: AgeRules) -> bool:
    return patient.birth_date is not None and age_on(patient.birth_date, today) >= rules.adult_at_age


def may_manage_proxies_for_clinic(scope: PatientScope) -> bool:
    """The clinic's proxy screen (grant, end with the identity checked): staff with the proxies area."""
    return scope.area is Area.PROXIES and scope.level is Level.STAFF


def may_see_own_proxies(scope: PatientScope) -> bool:
    """The patient's own "who can see my record" page: the patient alone, not a proxy, not staff."""
    return scope.area is Area.PROXIES and scope.level is Level.SELF


def may_invite(scope: PatientScope, *, today: date, rules: AgeRules) -> bool:
    """An adult patient may invite someone to help them; a minor's proxies are set up by the clinic."""
    return may_see_own_proxies(scope) and is_adult(scope.patient, today=today, rules=rules)


def end_grant_refusal(scope: PatientScope, grant: ProxyGrant, *, today: date, rules: AgeRules) -> str | None:
    """Why this viewer may not end this grant (a Refused code), or None when they may.

    The clinic may end any grant of the patient. A patient may end grants on their own record, except that
    a patient under the age of majority may not remove a parent's or guardian's access.
    """
    if grant.patient_id != scope.patient_id:
        return "grant_of_another_patient"
    if may_manage_proxies_for_clinic(scope):
        return None
    if not may_see_own_proxies(scope):
        return "not_allowed"
    if grant.relationship in ("parent", "guardian") and not is_adult(scope.patient, today=today, rules=rules):
        return "teen_cannot_revoke"
    return None


def may_end_grant(scope: PatientScope, grant: ProxyGrant, *, today: date, rules: AgeRules) -> bool:
    return end_grant_refusal(scope, grant, today=today, rules=rules) is None


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
    patient = session.exec(select(Patient).where(Patient.public_id == patient_public_id)).first()
    if patient is None:
        audit.record(
            session,
            action=look.action,
            outcome="denied",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            resource_type=look.resource_type,
            resource_id=look.resource_id,
            provenance=asker.provenance,
        )
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


def act_as_operator(
    session: Session,
    operator: Operator,
    patient: Patient,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Acted[T] | None:
    """The clinic's own command changes one patient's data: no person to decide for, still one event."""
    viewer = Person(display_name="Clinic operator")  # never stored: the scope's viewer has no account
    scope = PatientScope(patient, viewer, look.area, Level.STAFF, True, True, operator.now, ALL_AREAS, _DOOR)
    acted, resource_id = _carry_out(session, scope, action, *args, **kwargs)
    audit.record(
        session,
        action=look.action,
        outcome="allowed" if acted is not None and acted.refused is None else "denied",
        actor_person_id=None,
        actor_role=OPERATOR_ROLE,
        patient_id=patient.id,
        resource_type=look.resource_type,
        resource_id=look.resource_id or resource_id,
        provenance=operator.provenance,
    )
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
