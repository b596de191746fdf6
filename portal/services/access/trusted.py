"""The door's trusted callers, who decide without a person's grant: the clinic's operator at the command line
(audited as "system") and a guest holding a paper statement (bills only, audited as "guest").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Concatenate, ParamSpec, TypeVar

from sqlmodel import Session

from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import audit
from portal.services.access.door import Acted, Look, PatientScope, _carry_out, _scope
from portal.services.access.rules import ALL_AREAS, AgeRules, Area, Level

T = TypeVar("T")
P = ParamSpec("P")


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
    scope = _scope(patient, viewer, look.area, Level.STAFF, operator.now, ALL_AREAS, sees_confidential=True)
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
    scope = _scope(patient, viewer, look.area, Level.STAFF, operator.now, ALL_AREAS, sees_confidential=True)
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


GUEST_ROLE = "guest"


def act_as_guest(
    session: Session,
    provenance: Provenance,
    now: datetime,
    patient: Patient,
    look: Look,
    action: Callable[Concatenate[Session, PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> Acted[T] | None:
    """Someone without an account who has shown they hold the patient's paper statement (its code and the
    patient's date of birth; the billing service checks both, rate limited): bills only, never a
    confidential item, audited as "guest". The caller has already decided, from the code."""
    viewer = Person(display_name="Guest")  # never stored: a guest has no account
    scope = _scope(
        patient, viewer, Area.BILLING, Level.LIMITED, now, frozenset({Area.BILLING}), sees_confidential=False
    )
    acted, resource_id = _carry_out(session, scope, action, *args, **kwargs)
    audit.record(
        session,
        action=look.action,
        outcome="allowed" if acted is not None and acted.refused is None else "denied",
        actor_person_id=None,
        actor_role=GUEST_ROLE,
        patient_id=patient.id,
        resource_type=look.resource_type,
        resource_id=look.resource_id or resource_id,
        provenance=provenance,
    )
    return acted
