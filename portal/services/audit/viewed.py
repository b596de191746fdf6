"""Who has viewed a patient's record: the staff and proxies who looked, by name and role, newest first.

`who_viewed_page` is the chart page's reader: it takes the PatientScope the access service opened (the
patient's own account, or an admin; never a proxy), so only the door can call it for a patient.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlmodel import Session, col, func, select

from portal.models.audit import AuditEvent
from portal.models.people import Patient, Person
from portal.services.audit.search import MAX_PER_PAGE
from portal.services.audit.writing import ACCESS_ACTIONS

if TYPE_CHECKING:  # access writes audit events, so it imports this package: a type-only import back
    from portal.services.access import PatientScope


@dataclass(frozen=True)
class Viewing:
    """One look at a patient's record by someone other than the patient."""

    occurred_at: datetime
    actor_name: str
    actor_role: str | None
    action: str
    resource_type: str | None
    resource_id: str | None
    on_behalf: bool  # a proxy acting for the patient
    route: str | None = None  # the page's route name


@dataclass(frozen=True)
class ViewingPage:
    rows: list[Viewing]
    total: int
    page: int
    per_page: int


def who_viewed(session: Session, patient_id: int, *, page: int = 1, per_page: int = 50) -> ViewingPage:
    """Who has viewed this patient's record: staff and proxies, by name and role, newest first.

    Counts the looks that were allowed (views, downloads, prints, exports); leaves out the patient's own.
    """
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError("page must be at least 1 and per_page between 1 and 500")
    own_person_id = session.exec(select(Patient.person_id).where(col(Patient.id) == patient_id)).first()
    conditions: list[Any] = [
        col(AuditEvent.patient_id) == patient_id,
        col(AuditEvent.action).in_(ACCESS_ACTIONS),
        col(AuditEvent.outcome) == "allowed",
        col(AuditEvent.actor_person_id).is_not(None),
    ]
    if own_person_id is not None:
        conditions.append(col(AuditEvent.actor_person_id) != own_person_id)
    total = session.exec(select(func.count()).select_from(AuditEvent).where(*conditions)).one()
    statement = (
        select(AuditEvent, Person.display_name)
        .join(Person, col(Person.id) == col(AuditEvent.actor_person_id))
        .where(*conditions)
        .order_by(col(AuditEvent.id).desc())
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    rows = [
        Viewing(
            occurred_at=event.occurred_at,
            actor_name=name,
            actor_role=event.actor_role,
            action=event.action,
            resource_type=event.resource_type,
            resource_id=event.resource_id,
            on_behalf=event.on_behalf_of_person_id is not None,
            route=event.route,
        )
        for event, name in session.exec(statement)
    ]
    return ViewingPage(rows, total, page, per_page)


def who_viewed_page(session: Session, scope: PatientScope, page: int, *, per_page: int = 25) -> ViewingPage:
    """The reader for "Who has viewed my record": one page of looks at the scope's patient."""
    return who_viewed(session, scope.patient_id, page=page, per_page=per_page)
