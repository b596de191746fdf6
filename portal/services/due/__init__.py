"""What is due for one patient: vaccines by the CDC's CDSi forecast (or the EHR's own recommendations when
it sends them), the next check-up, and the flu shot each season.

Every reader takes the patient scope the door opened. A limited view (the parent of a 12-17-year-old)
sees the forecast without the vaccine groups a confidential dose belongs to (services/due/vaccines.py
says why no group is hidden by default), and without the EHR recommendations labelled confidential.
Staff also see why a dose was not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, tzinfo

from sqlmodel import Session

from portal.models.records import Immunization
from portal.services import record_pages, records
from portal.services.access import Area, PatientScope
from portal.services.due.checkup import checkup_item, last_checkup
from portal.services.due.ehr import EhrRecommendation, recommendations
from portal.services.due.vaccines import (
    SENSITIVE_GROUPS,
    DueItem,
    NotCounted,
    Timing,
    recorded_doses,
    vaccine_forecast,
)

__all__ = [
    "SENSITIVE_GROUPS",
    "Due",
    "DueItem",
    "EhrRecommendation",
    "ImmunizationsPage",
    "NotCounted",
    "Timing",
    "immunizations_page",
    "summary_page",
    "what_is_due",
]


@dataclass(frozen=True)
class Due:
    assessed_on: date
    due_now: list[DueItem] = field(default_factory=list)
    due_soon: list[DueItem] = field(default_factory=list)
    up_to_date: list[DueItem] = field(default_factory=list)
    from_ehr: list[EhrRecommendation] = field(default_factory=list)  # when present, instead of ours
    not_counted: list[NotCounted] = field(default_factory=list)  # staff only

    @property
    def keys_due_now(self) -> frozenset[str]:
        return frozenset(item.key for item in self.due_now)


def what_is_due(session: Session, scope: PatientScope, *, today: date, zone: tzinfo) -> Due:
    """The patient's vaccines and check-up, as this scope may see them, on the clinic's `today`."""
    patient = scope.patient
    if patient.birth_date is None or patient.deceased:
        return Due(today)
    doses = recorded_doses(session, scope, zone)
    vaccines = vaccine_forecast(
        doses, patient.birth_date, patient.sex, today, limited=not scope.sees_confidential, staff=scope.staff
    )
    from_ehr = recommendations(session, scope, vaccines.hidden_groups)
    items = [] if from_ehr else list(vaccines.items)
    items.append(checkup_item(patient.birth_date, last_checkup(session, scope, zone), today))
    by_timing: dict[Timing, list[DueItem]] = {timing: [] for timing in Timing}
    for item in items:
        by_timing[item.timing].append(item)
    return Due(
        today,
        due_now=sorted(by_timing[Timing.DUE_NOW], key=lambda i: (i.due_by or date.max, i.name)),
        due_soon=sorted(by_timing[Timing.DUE_SOON], key=lambda i: (i.due_on or date.max, i.name)),
        up_to_date=by_timing[Timing.UP_TO_DATE],
        from_ehr=from_ehr,
        not_counted=vaccines.not_counted,
    )


@dataclass(frozen=True)
class ImmunizationsPage:
    immunizations: list[Immunization]
    due: Due


def immunizations_page(session: Session, scope: PatientScope, today: date, zone: tzinfo) -> ImmunizationsPage:
    """The immunizations page: the doses given, newest first, and what is due."""
    return ImmunizationsPage(
        records.immunizations(session, scope), what_is_due(session, scope, today=today, zone=zone)
    )


def summary_page(
    session: Session, scope: PatientScope, today: date, zone: tzinfo
) -> record_pages.Summary | bool:
    """The summary page with what is due (only where the same decision allows the record)."""
    summary = record_pages.summary(session, scope)
    if isinstance(summary, bool) or not scope.may(Area.RECORD):
        return summary
    return replace(summary, due=what_is_due(session, scope, today=today, zone=zone))
