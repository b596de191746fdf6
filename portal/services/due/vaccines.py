"""The bridge from a patient's immunizations to the CDSi forecaster (portal.forecast), and what the pages
make of its answer: per vaccine group "due now", "due soon" (with the date) or "up to date".

The doses come from the patient's immunization rows (CVX codes; a row coded another way is looked up in
the resource the EHR sent), the birth date and sex from the chart. What a scope sees follows the one
visibility rule (services/visibility.py), asked per row so that a limited view also knows which vaccine
groups a hidden dose belongs to and leaves those groups out whole.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta, tzinfo
from enum import StrEnum

from sqlalchemy import and_, bindparam, select
from sqlmodel import Session, col

from portal import forecast as cdsi
from portal.forecast import data as supporting
from portal.models.records import FhirResource, Immunization
from portal.services import visibility
from portal.services.access import PatientScope
from portal.services.due.outcome import GroupOutcome, Outcome, outcome
from portal.services.due.words import GROUP_NAMES, NOT_COUNTED_REASONS, dose_words

CVX_SYSTEM = "http://hl7.org/fhir/sid/cvx"
SOON_DAYS = 60  # "due soon": the recommended date falls within the next two months
NOT_COUNTED_STATUSES = ("entered-in-error", "not-done")
SEASONAL_GROUP = "Influenza"

# Vaccine groups a limited view (the parent of a 12-17-year-old) never sees, whatever the record says.
# Empty on purpose: vaccines are not confidential, and the CDC schedules HPV (and hepatitis B) as routine
# shots at 11-12, which parents are asked to consent to. What a teen chose to keep private is marked by
# the EHR on the immunization row itself (confidential), and a group with any such dose is left out of
# the limited view whole: neither the dose nor the group's forecast (which would reveal it) is shown.
SENSITIVE_GROUPS: frozenset[str] = frozenset()


class Timing(StrEnum):
    DUE_NOW = "due-now"
    DUE_SOON = "due-soon"
    UP_TO_DATE = "up-to-date"


@dataclass(frozen=True)
class DueItem:
    """One line of "what is due": a vaccine group (or a check-up), when, and which dose."""

    key: str  # stable across days ("MMR:2:2026-08-08"): what a reminder remembers having announced
    name: str  # a message id, translated when shown
    timing: Timing
    dose: str | None = None  # a message id ("2nd dose"); None for a check-up
    due_on: date | None = None  # due soon: the date it is recommended from
    due_by: date | None = None  # the last day before it is late
    late: bool = False


@dataclass(frozen=True)
class RecordedDose:
    display: str  # the vaccine as the record names it
    shown: bool  # whether this scope may see the row
    cvx: str | None
    given_on: date | None


@dataclass(frozen=True)
class NotCounted:
    """A dose the forecast did not count, and why: shown to staff on the immunizations page."""

    vaccine: str
    given_on: date | None
    reason: str  # a message id
    group: str | None = None  # the vaccine group whose series found it not valid (a message id)


# Built once for each shape of the visibility rule (building it on every request cost more than running
# it): every dose, each marked with whether the scope may see it.
_DOSES = visibility.Prepared(
    lambda shape: (
        select(
            col(Immunization.display),
            col(Immunization.code_system),
            col(Immunization.code),
            col(Immunization.resource_id),
            col(Immunization.occurred_at),
            shape.shown(Immunization).label("shown"),
        )
        .where(
            col(Immunization.patient_id) == bindparam("patient_id"),
            col(Immunization.status).is_(None)
            | and_(*(col(Immunization.status) != status for status in NOT_COUNTED_STATUSES)),
        )
        .order_by(col(Immunization.occurred_at), col(Immunization.id))
    )
)


def recorded_doses(session: Session, scope: PatientScope, zone: tzinfo) -> list[RecordedDose]:
    """The patient's immunizations given, oldest first, each marked with whether this scope sees it."""
    statement, values = _DOSES(session, scope)
    rows = session.execute(statement, {**values, "patient_id": scope.patient_id}).all()
    other_coding = [resource_id for _, system, _, resource_id, _, _ in rows if system != CVX_SYSTEM]
    cvx_of_resource = _cvx_from_resources(session, other_coding) if other_coding else {}
    return [
        RecordedDose(
            display,
            bool(visible),
            code if system == CVX_SYSTEM and code else cvx_of_resource.get(resource_id),
            occurred_at.astimezone(zone).date() if occurred_at else None,
        )
        for display, system, code, resource_id, occurred_at, visible in rows
    ]


def _cvx_from_resources(session: Session, resource_ids: list[int]) -> dict[int, str]:
    """The CVX coding of immunizations whose first coding is another system's (NDC, say)."""
    found: dict[int, str] = {}
    for resource_id, text in session.execute(
        select(col(FhirResource.id), col(FhirResource.resource_json)).where(
            col(FhirResource.id).in_(resource_ids)
        )
    ):
        codings = (json.loads(text).get("vaccineCode") or {}).get("coding") or []
        cvx = next((c.get("code") for c in codings if c.get("system") == CVX_SYSTEM and c.get("code")), None)
        if isinstance(cvx, str):
            found[resource_id] = cvx
    return found


@functools.lru_cache(maxsize=512)
def groups_of(cvx: str) -> frozenset[str]:
    """The vaccine groups a vaccine (CVX code) counts towards."""
    data = supporting.load()
    antigens = {a.antigen for a in data.cvx_antigens.get(supporting.normalize_cvx(cvx), ())}
    return frozenset(name for name, group in data.vaccine_groups.items() if antigens & set(group.antigens))


@dataclass(frozen=True)
class VaccineForecast:
    items: list[DueItem]
    not_counted: list[NotCounted]
    hidden_groups: frozenset[str]


def vaccine_forecast(
    doses: Sequence[RecordedDose],
    birth_date: date,
    sex: str | None,
    today: date,
    *,
    limited: bool,
    staff: bool,
) -> VaccineForecast:
    """Forecast from the doses this scope sees. For a limited view, the groups the clinic marks sensitive
    and every group a hidden dose counts towards are left out whole."""
    hidden = set(SENSITIVE_GROUPS) if limited else set()
    for dose in doses:
        if not dose.shown and dose.cvx:
            hidden |= groups_of(dose.cvx)
    usable = [d for d in doses if d.shown and d.cvx and d.given_on]
    gender = (sex or "")[:1].upper()
    patient = cdsi.Patient(birth_date, gender if gender in ("F", "M") else "")
    given = tuple(cdsi.DoseGiven(d.given_on, d.cvx) for d in usable if d.given_on and d.cvx)
    result = outcome(patient, given, today)
    items = [
        item
        for group in result.groups
        if group.name not in hidden and (item := _item(group, today)) is not None
    ]
    not_counted = _not_counted(doses, usable, result, birth_date) if staff else []
    return VaccineForecast(items, not_counted, frozenset(hidden))


def _item(group: GroupOutcome, today: date) -> DueItem | None:
    name = group.name
    label = GROUP_NAMES.get(name, name)
    status = group.status
    if status in (cdsi.ForecastStatus.COMPLETE, cdsi.ForecastStatus.IMMUNE):
        return DueItem(name, label, Timing.UP_TO_DATE)
    if status is not cdsi.ForecastStatus.NOT_COMPLETE or group.recommended is None:
        return None  # aged out or not recommended: nothing to do, nothing to show
    recommended = group.recommended
    key = f"{name}:{group.dose_number}:{recommended.isoformat()}"  # a new season, a new key
    # The next dose as people count them (doses that counted, plus one), not the series' target number,
    # which skips ahead when a schedule lets a dose be left out. The flu shot is one a season: no number.
    given = group.valid_doses
    dose = None if name == SEASONAL_GROUP else dose_words(given + 1)
    due_by = group.past_due - timedelta(days=1) if group.past_due else None
    if recommended <= today:
        late = group.past_due is not None and group.past_due <= today
        return DueItem(key, label, Timing.DUE_NOW, dose, None, due_by, late)
    if recommended <= today + timedelta(days=SOON_DAYS):
        return DueItem(key, label, Timing.DUE_SOON, dose, recommended, due_by)
    if given:
        return DueItem(name, label, Timing.UP_TO_DATE)
    return None  # not yet for this age: the group shows once its first dose comes near


def _not_counted(
    doses: Sequence[RecordedDose],
    usable: Sequence[RecordedDose],
    result: Outcome,
    birth_date: date,
) -> list[NotCounted]:
    found: list[NotCounted] = []
    for dose in doses:
        if dose.cvx is None:
            found.append(NotCounted(dose.display, dose.given_on, NOT_COUNTED_REASONS["no-code"]))
        elif dose.given_on is None:
            found.append(NotCounted(dose.display, None, NOT_COUNTED_REASONS["no-date"]))
    skipped = dict(result.not_evaluated)
    for index, dose in enumerate(usable):
        why = skipped.get(index)
        if why is not None:
            key = "unknown-vaccine" if why is cdsi.Reason.UNKNOWN_VACCINE else "future"
            found.append(NotCounted(dose.display, dose.given_on, NOT_COUNTED_REASONS[key]))
            continue
        if dose.given_on is not None and dose.given_on < birth_date:
            found.append(NotCounted(dose.display, dose.given_on, NOT_COUNTED_REASONS["before-birth"]))
            continue
        for name, not_valid in result.not_valid[index]:
            reason = NOT_COUNTED_REASONS.get(not_valid.value, not_valid.value)
            found.append(NotCounted(dose.display, dose.given_on, reason, GROUP_NAMES.get(name, name)))
    return found
