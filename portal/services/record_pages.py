"""What each record page shows: the records queries with result flags, growth centiles and small result
charts applied, for one patient scope. Each page's reader takes the scope `access.read` opened.

What a scope sees is the one visibility rule's business (services/visibility.py): a patient or proxy
never gets a held result from the queries; staff get every result, each marked with whether the patient
can see it yet (`visibility.released`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session

from portal.fhir import export
from portal.models.people import Person
from portal.models.records import DiagnosticReport, Observation
from portal.models.results import ResultHold
from portal.provenance import Provenance
from portal.services import audit, growth, lab_results, records, results, visibility
from portal.services.access import Area, PatientScope, age_on
from portal.services.errors import Refused
from portal.services.results import Flag
from portal.services.scheduling import pages as scheduling_pages

GROUPS_PER_PAGE = 5
SUMMARY_RESULTS = 5
SUMMARY_ITEMS = 10  # of each current list; the list's own page has the rest


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


# A paged records query: (session, scope, limit, offset) -> rows, newest first.
PagedQuery = Callable[[Session, PatientScope, int, int], list[Any]]
PER_PAGE = 20


def list_page(session: Session, scope: PatientScope, query: PagedQuery, number: int) -> Page:
    """One page of a long list (visits, notes), with whether there is a next one."""
    found = query(session, scope, PER_PAGE + 1, (number - 1) * PER_PAGE)
    return Page(found[:PER_PAGE], number, len(found) > PER_PAGE)


def row_of(
    observation: Observation, report: DiagnosticReport | None, holds: dict[str, ResultHold], now: datetime
) -> ResultRow:
    o = observation
    released = visibility.released(o, report, holds, now=now)
    return ResultRow(o, results.flag(o.value, o.reference_low, o.reference_high, o.interpretation), released)


def _group(
    group: lab_results.ResultGroup, holds: dict[str, ResultHold], scope: PatientScope
) -> ReportGroup | None:
    rows = [row_of(o, group.report, holds, scope.now) for o in group.results]
    report_released = group.report is None or visibility.released(None, group.report, holds, now=scope.now)
    if not scope.staff:  # the queries left held rows out already; this keeps a page right if they change
        rows = [row for row in rows if row.released]
        # A report whose results are all held waits with them; one with no results shows its text.
        text_only = group.report is not None and not group.results and report_released
        if not rows and not text_only:
            return None
    return ReportGroup(
        group.report, group.day, group.when, rows, report_released and all(r.released for r in rows)
    )


def results_page(session: Session, scope: PatientScope, number: int = 1) -> Page:
    """Results grouped by report, newest first, a page of reports at a time (paged in SQL)."""
    holds = visibility.holds(session)
    start = (number - 1) * GROUPS_PER_PAGE
    groups = lab_results.results_by_report(session, scope, GROUPS_PER_PAGE + 1, start)
    shown = [g for g in (_group(group, holds, scope) for group in groups[:GROUPS_PER_PAGE]) if g is not None]
    return Page(shown, number, len(groups) > GROUPS_PER_PAGE)


def report_page(session: Session, scope: PatientScope, public_id: str) -> ReportGroup | None:
    """One report with its results; None when it is not this patient's or not yet released to them."""
    found = lab_results.report(session, scope, public_id)
    return None if found is None else _group(found, visibility.holds(session), scope)


@dataclass(frozen=True)
class Sparkline:
    """A small chart of one test's values over time, with its reference range as a band."""

    width: int
    height: int
    points: list[tuple[float, float]]
    band: tuple[float, float] | None  # (y of the top edge, height) of the reference range
    y_labels: list[tuple[float, str]]
    unit: str = ""  # the vertical axis's unit
    first_at: datetime | None = None  # the dates at the two ends of the horizontal axis
    last_at: datetime | None = None

    @property
    def polyline(self) -> str:
        return " ".join(f"{x},{y}" for x, y in self.points)


@dataclass(frozen=True)
class ResultHistory:
    result: ResultRow
    history: list[ResultRow]  # oldest first
    chart: Sparkline | None


# A history chart's vertical scale spans at least this share of the values' size, so that 183 -> 186 is a
# gentle slope and not a cliff when the lab gave no range to scale by.
MIN_SPAN_SHARE = 0.2


def sparkline(rows: list[ResultRow], *, width: int = 320, height: int = 140) -> Sparkline | None:
    """Geometry for a test's history chart: needs at least one numeric value."""
    values = [(i, r.observation.value) for i, r in enumerate(rows) if r.observation.value is not None]
    if not values:
        return None
    latest = rows[-1].observation
    range_values = [v for v in (latest.reference_low, latest.reference_high) if v is not None]
    low = min([v for _, v in values] + range_values)
    high = max([v for _, v in values] + range_values)
    middle = (low + high) / 2
    least = max(abs(middle) * MIN_SPAN_SHARE, 1.0 if middle == 0 else 0.0)
    if high - low < least:
        low, high = middle - least / 2, middle + least / 2
    if low >= 0 and low - (high - low) < 0:
        low = 0.0  # a scale that would nearly reach zero starts at zero
    pad = (high - low) * 0.1
    low, high = low - pad if low > 0 else low, high + pad
    left, right, top, bottom = 44, 12, 18, 22  # room for the unit above and the dates below
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
    ticks = sorted(set(range_values)) or [min(v for _, v in values), max(v for _, v in values)]
    labels = [(y(v), f"{v:g}") for v in dict.fromkeys(ticks)]
    first, last = rows[0].observation.effective_at, latest.effective_at
    return Sparkline(width, height, points, band, labels, latest.unit or "", first, last)


def result_history_page(session: Session, scope: PatientScope, public_id: str) -> ResultHistory | None:
    """One result and every earlier result of the same test, with a chart; None if not this patient's."""
    found = lab_results.result(session, scope, public_id)
    if found is None:
        return None
    history = lab_results.result_history(session, scope, found.code) if found.code else [found]
    reports = records.reports_by_resource_id(
        session, scope, {o.report_resource_id for o in history if o.report_resource_id is not None}
    )
    holds = visibility.holds(session)
    rows = [row_of(o, reports.get(o.report_resource_id or 0), holds, scope.now) for o in history]
    if not scope.staff:
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
    due: Any = None  # what is due (services.due.Due), added by the summary's reader
    more: frozenset[str] = frozenset()  # the lists cut short: "problems", "medications", "allergies"
    appointments: list[Any] = field(default_factory=list)  # booked here or sent by the EHR's Appointment


def summary(session: Session, scope: PatientScope) -> Summary | bool:
    """Health issues, current medications, allergies, recent results and upcoming visits; False (the
    banner alone) when the scope's decision does not also allow the record, as for the front desk."""
    if not scope.may(Area.RECORD):
        return False
    recent = lab_results.recent_results(session, scope, limit=SUMMARY_RESULTS * 2)
    holds = visibility.holds(session)
    rows = [row_of(o, report, holds, scope.now) for o, report in recent]
    if not scope.staff:
        rows = [row for row in rows if row.released]
    current = records.current_only(session, scope, SUMMARY_ITEMS)
    return Summary(
        problems=current["problems"][:SUMMARY_ITEMS],
        medications=current["medications"][:SUMMARY_ITEMS],
        allergies=current["allergies"][:SUMMARY_ITEMS],
        results=rows[:SUMMARY_RESULTS],
        upcoming=records.upcoming_encounters(session, scope),
        can_download=scope.sees_confidential and not scope.staff,
        more=frozenset(name for name, rows in current.items() if len(rows) > SUMMARY_ITEMS),
        appointments=scheduling_pages.upcoming_booked(session, scope, days=366)[:5],
    )


def record_bundle(session: Session, scope: PatientScope) -> dict[str, Any] | None:
    """The record as a FHIR Bundle, as this scope sees it (held results left out), for the patient or a
    full proxy; None for a limited view (the file is the whole record or nothing) and for staff."""
    if not scope.sees_confidential or scope.staff:
        return None
    return export.patient_bundle(session, scope)


# Growth ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GrowthSeries:
    measure: growth.Measure
    chart: growth.Chart | None
    assessments: list[growth.Assessment]  # newest first, for the table when there is no chart


def growth_page(session: Session, scope: PatientScope, *, today: date) -> list[GrowthSeries] | None:
    """Each growth measure with its centiles and chart; None for anyone 20 or older (no growth charts)."""
    patient = scope.patient
    if patient.birth_date is None or not shows_growth(patient.birth_date, today):
        return None
    series = records.growth_measurements(session, scope)
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
    return HoldsScreen(held, lab_results.result_categories(session))


def hold_category(
    session: Session, *, category: str, hold_hours: int, reason: str, person: Person, where: Provenance
) -> ResultHold:
    """Hold a category of results, with its reason, and audit the change. Refused for bad input."""
    hold = results.set_hold(
        session, category=category, hold_hours=hold_hours, reason=reason, set_by_person_id=person.id
    )
    visibility.forget_holds(session)
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
    visibility.forget_holds(session)
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


def hold_from_form(
    session: Session, *, category: str, hours: str, reason: str, person: Person, where: Provenance
) -> tuple[Refused | None, HoldsScreen]:
    """The holds screen's form: hold the category, or say why not (changing nothing)."""
    try:
        if not hours.isdigit():
            raise Refused("hold_hours_not_whole")
        hold_category(
            session, category=category, hold_hours=int(hours), reason=reason, person=person, where=where
        )
    except Refused as refused:  # set_hold checks its input before it writes anything: nothing to undo
        return refused, holds_screen(session)
    return None, holds_screen(session)


def release_from_form(
    session: Session, *, category: str, person: Person, where: Provenance
) -> tuple[bool, HoldsScreen]:
    """The holds screen's release button: end the hold; False if the category was not held."""
    cleared = release_category(session, category=category, person=person, where=where)
    return cleared, holds_screen(session)
