"""What each record page shows: the records queries with the release rules, result flags, growth centiles
and small result charts applied, for one viewer.

A patient or proxy sees a result only once it is released (`results.is_released`: at once unless its
category is held); staff see every result, each marked with whether the patient can see it yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from portal.fhir import export
from portal.models.people import Patient, Person
from portal.models.records import DiagnosticReport, Observation
from portal.models.results import ResultHold
from portal.provenance import Provenance
from portal.services import audit, growth, records, results
from portal.services.access import Decision, Level, PatientScope, age_on
from portal.services.results import Flag

GROUPS_PER_PAGE = 5
SUMMARY_RESULTS = 5


@dataclass(frozen=True)
class Viewer:
    """Who is looking, as far as the records care: may they see confidential items, are they staff."""

    include_confidential: bool
    staff: bool
    now: datetime

    @classmethod
    def of(cls, decision: Decision, now: datetime) -> Viewer:
        return cls(decision.sees_confidential, decision.level is Level.STAFF, now)

    @classmethod
    def of_scope(cls, scope: PatientScope) -> Viewer:
        return cls(scope.sees_confidential, scope.staff, scope.now)


@dataclass(frozen=True)
class ResultRow:
    observation: Observation
    flag: Flag | None
    released: bool  # False reaches staff only: "not yet released to the patient"


@dataclass(frozen=True)
class ReportGroup:
    report: DiagnosticReport | None
    day: date | None
    when: datetime | None
    rows: list[ResultRow]
    released: bool


@dataclass(frozen=True)
class Page:
    items: list[Any]
    number: int
    has_next: bool


def row_of(
    observation: Observation, report: DiagnosticReport | None, holds: dict[str, ResultHold], now: datetime
) -> ResultRow:
    o = observation
    issued = o.issued or (report.issued if report else None)
    released = results.is_released(issued, o.category, holds, now=now)
    if report is not None:
        released = released and results.is_released(
            report.issued or o.issued, report.category, holds, now=now
        )
    return ResultRow(o, results.flag(o.value, o.reference_low, o.reference_high, o.interpretation), released)


def _group(group: records.ResultGroup, holds: dict[str, ResultHold], viewer: Viewer) -> ReportGroup | None:
    rows = [row_of(o, group.report, holds, viewer.now) for o in group.results]
    report_released = group.report is None or results.is_released(
        group.report.issued, group.report.category, holds, now=viewer.now
    )
    if not viewer.staff:
        rows = [row for row in rows if row.released]
        # A report whose results are all held waits with them; one with no results shows its text.
        text_only = group.report is not None and not group.results and report_released
        if not rows and not text_only:
            return None
    return ReportGroup(
        group.report, group.day, group.when, rows, report_released and all(r.released for r in rows)
    )


def results_page(session: Session, scope: PatientScope, number: int = 1) -> Page:
    """Results grouped by report, newest first, a page of reports at a time."""
    viewer = Viewer.of_scope(scope)
    holds = results.holds(session)
    groups = records.results_by_report(
        session, scope.patient_id, include_confidential=viewer.include_confidential
    )
    shown = [g for g in (_group(group, holds, viewer) for group in groups) if g is not None]
    start = (number - 1) * GROUPS_PER_PAGE
    return Page(shown[start : start + GROUPS_PER_PAGE], number, len(shown) > start + GROUPS_PER_PAGE)


def report_page(session: Session, patient_id: int, public_id: str, viewer: Viewer) -> ReportGroup | None:
    """One report with its results; None when it is not this patient's or not yet released to them."""
    found = records.report(session, patient_id, public_id, include_confidential=viewer.include_confidential)
    return None if found is None else _group(found, results.holds(session), viewer)


@dataclass(frozen=True)
class Sparkline:
    """A small chart of one test's values over time, with its reference range as a band."""

    width: int
    height: int
    points: list[tuple[float, float]]
    band: tuple[float, float] | None  # (y of the top edge, height) of the reference range
    y_labels: list[tuple[float, str]]

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)


@dataclass(frozen=True)
class ResultHistory:
    result: ResultRow
    history: list[ResultRow]  # oldest first
    chart: Sparkline | None


def sparkline(rows: list[ResultRow], *, width: int = 320, height: int = 120) -> Sparkline | None:
    """Geometry for a test's history chart: needs at least one numeric value."""
    values = [(i, r.observation.value) for i, r in enumerate(rows) if r.observation.value is not None]
    if not values:
        return None
    latest = rows[-1].observation
    range_values = [v for v in (latest.reference_low, latest.reference_high) if v is not None]
    low = min([v for _, v in values] + range_values)
    high = max([v for _, v in values] + range_values)
    if high == low:
        low, high = low - 1, high + 1
    pad = (high - low) * 0.1
    low, high = low - pad, high + pad
    left, right, top, bottom = 44, 12, 10, 10
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(value: float) -> float:
        return round(top + (high - value) / (high - low) * plot_h, 1)

    count = len(rows)
    points = [
        (round(left + (plot_w * i / (count - 1) if count > 1 else plot_w / 2), 1), y(value))
        for i, value in values
    ]
    band = None
    if latest.reference_low is not None or latest.reference_high is not None:
        band_top = y(latest.reference_high if latest.reference_high is not None else high)
        band_bottom = y(latest.reference_low if latest.reference_low is not None else low)
        band = (band_top, round(band_bottom - band_top, 1))
    labels = [(y(v), f"{v:g}") for v in sorted(set(range_values))] or [
        (y(values[-1][1]), f"{values[-1][1]:g}")
    ]
    return Sparkline(width, height, points, band, labels)


def result_history_page(
    session: Session, patient_id: int, public_id: str, viewer: Viewer
) -> ResultHistory | None:
    """One result and every earlier result of the same test, with a chart; None if not this patient's."""
    found = records.result(session, patient_id, public_id, include_confidential=viewer.include_confidential)
    if found is None:
        return None
    history = (
        records.result_history(
            session, patient_id, found.code, include_confidential=viewer.include_confidential
        )
        if found.code
        else [found]
    )
    reports = records.reports_by_resource_id(
        session, patient_id, {o.report_resource_id for o in history if o.report_resource_id is not None}
    )
    holds = results.holds(session)
    rows = [row_of(o, reports.get(o.report_resource_id or 0), holds, viewer.now) for o in history]
    if not viewer.staff:
        rows = [row for row in rows if row.released]
    this = next((row for row in rows if row.observation.id == found.id), None)
    if this is None:
        return None
    return ResultHistory(this, rows, sparkline(rows))


# The summary ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    problems: list[Any]
    medications: list[Any]
    allergies: list[Any]
    results: list[ResultRow]
    upcoming: list[Any]
    can_download: bool


def summary(session: Session, patient_id: int, viewer: Viewer) -> Summary:
    """Health issues, current medications, allergies, recent results and upcoming visits."""
    private = viewer.include_confidential
    recent = records.recent_results(session, patient_id, include_confidential=private)
    reports = records.reports_by_resource_id(
        session, patient_id, {o.report_resource_id for o in recent if o.report_resource_id is not None}
    )
    holds = results.holds(session)
    rows = [row_of(o, reports.get(o.report_resource_id or 0), holds, viewer.now) for o in recent]
    if not viewer.staff:
        rows = [row for row in rows if row.released]
    return Summary(
        problems=records.conditions(session, patient_id, include_confidential=private).current,
        medications=records.medications(session, patient_id, include_confidential=private).current,
        allergies=records.allergies(session, patient_id, include_confidential=private).current,
        results=rows[:SUMMARY_RESULTS],
        upcoming=records.upcoming_encounters(
            session, patient_id, include_confidential=private, now=viewer.now
        ),
        can_download=private and not viewer.staff,
    )


def record_bundle(session: Session, patient: Patient, viewer: Viewer) -> dict[str, Any] | None:
    """The whole record as a FHIR Bundle (what `portal export-fhir` writes), for the patient or a full
    proxy; None for a limited view, since the bundle would carry the items that view hides."""
    if not viewer.include_confidential or viewer.staff:
        return None
    return export.patient_bundle(session, patient.fhir_id)


# Growth ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthSeries:
    measure: growth.Measure
    chart: growth.Chart | None
    assessments: list[growth.Assessment]  # newest first, for the table when there is no chart


def growth_page(
    session: Session, patient: Patient, viewer: Viewer, *, today: date
) -> list[GrowthSeries] | None:
    """Each growth measure with its centiles and chart; None for anyone 20 or older (no growth charts)."""
    if patient.id is None or patient.birth_date is None or not shows_growth(patient.birth_date, today):
        return None
    series = records.growth_measurements(
        session, patient.id, include_confidential=viewer.include_confidential
    )
    sex = patient.sex or ""
    shown = []
    for name, points in series.items():
        if not points:
            continue
        measure = growth.MEASURE_OF_SERIES[name]
        assessed = [
            growth.assess(measure, p.value, sex=sex, birth_date=patient.birth_date, taken_on=p.at.date())
            for p in points
        ]
        shown.append(GrowthSeries(measure, growth.chart(assessed, sex=sex), assessed[::-1]))
    return shown


def shows_growth(birth_date: date | None, today: date) -> bool:
    """Growth charts are for anyone under 20."""
    return birth_date is not None and age_on(birth_date, today) < growth.GROWTH_CHART_MAX_AGE


# Release holds (clinicians) ------------------------------------------------------------------------


@dataclass(frozen=True)
class HoldsScreen:
    holds: list[ResultHold]
    categories: list[str]  # the result and report categories the portal holds records for


def holds_screen(session: Session) -> HoldsScreen:
    held = sorted(results.holds(session).values(), key=lambda hold: hold.category)
    return HoldsScreen(held, records.result_categories(session))


def hold_category(
    session: Session, *, category: str, hold_hours: int, reason: str, person: Person, where: Provenance
) -> ResultHold:
    """Hold a category of results, with its reason, and audit the change. ValueError for bad input."""
    hold = results.set_hold(
        session, category=category, hold_hours=hold_hours, reason=reason, set_by_person_id=person.id
    )
    audit.record(
        session,
        action="update",
        actor_person_id=person.id,
        actor_role=person.staff_role,
        resource_type="ResultHold",
        resource_id=hold.category,
        provenance=where,
    )
    return hold


def release_category(session: Session, *, category: str, person: Person, where: Provenance) -> bool:
    """End a category's hold (its held results show at once), audited; False if it was not held."""
    cleared = results.clear_hold(session, category)
    if cleared:
        audit.record(
            session,
            action="delete",
            actor_person_id=person.id,
            actor_role=person.staff_role,
            resource_type="ResultHold",
            resource_id=category,
            provenance=where,
        )
    return cleared
