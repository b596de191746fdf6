"""Test results through the door: reports and their results grouped and paged in SQL, one test's history,
the newest results, and the categories a clinician may hold. Nothing here writes or commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CompoundSelect,
    Select,
    and_,
    bindparam,
    exists,
    false,
    func,
    literal,
    literal_column,
    null,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from portal.models.records import (
    DiagnosticReport,
    Observation,
    ObservationComponent,
)
from portal.services.access import PatientScope
from portal.services.records import LABORATORY, LIMIT, OFFSET, _one
from portal.services.visibility import Prepared, Shape, visible


@dataclass(frozen=True)
class ResultGroup:
    """The results of one report, or (report None) results the EHR sent without a report, by day."""

    report: DiagnosticReport | None
    results: list[Observation]
    day: date | None

    @property
    def when(self) -> datetime | None:
        if self.report is not None and (self.report.effective_at or self.report.issued):
            return self.report.effective_at or self.report.issued
        return self.results[0].effective_at if self.results else None


def results_by_report(
    session: Session, scope: PatientScope, limit: int | None = None, offset: int = 0
) -> list[ResultGroup]:
    """Laboratory results grouped by their report (or, without one, by day), newest first: `limit` groups
    from `offset`, or all of them. The groups are found and paged in SQL, so a page reads only its own
    results, whatever the size of the record."""
    paged = limit is not None
    statement, values = _GROUPS[session.get_bind().dialect.name, paged](session, scope)
    keys = session.execute(statement, {**values, "limit": limit, "offset": offset}).all()
    report_ids = [key.report for key in keys if key.report is not None]
    days = [key.day for key in keys if key.report is None]
    reports: dict[int, DiagnosticReport] = {}
    by_report: dict[int, list[Observation]] = defaultdict(list)
    if report_ids:
        of_reports, values = _REPORTS(session, scope)
        reports = {
            report.resource_id: report
            for report in session.scalars(of_reports, {**values, "report_ids": report_ids})
        }
        their_results, values = _RESULTS_OF_REPORTS(session, scope)
        for observation in session.scalars(their_results, {**values, "report_ids": report_ids}):
            by_report[observation.report_resource_id or 0].append(observation)
    by_day: dict[str | None, list[Observation]] = defaultdict(list)
    # Two queries rather than one with OR: each walks its own index.
    if days:
        shown = visible(session, scope, select(Observation), Observation)
        order = (col(Observation.effective_at), col(Observation.id))
        for observation in session.scalars(shown.where(_on_days(days)).order_by(*order)):
            at = observation.effective_at
            by_day[at.date().isoformat() if at else None].append(observation)
    groups = []
    for key in keys:
        if key.report is not None and key.report in reports:
            groups.append(ResultGroup(reports[key.report], by_report.get(key.report, []), None))
        elif key.report is None:
            day = date.fromisoformat(key.day) if key.day else None
            groups.append(ResultGroup(None, by_day.get(key.day, []), day))
    return groups


REPORT_IDS: BindParameter[int] = bindparam("report_ids", expanding=True)
_REPORTS = Prepared(
    lambda shape: select(DiagnosticReport).where(
        shape.shown(DiagnosticReport), col(DiagnosticReport.resource_id).in_(REPORT_IDS)
    )
)
_RESULTS_OF_REPORTS = Prepared(
    lambda shape: (
        select(Observation)
        .where(shape.shown(Observation), col(Observation.report_resource_id).in_(REPORT_IDS))
        .order_by(col(Observation.effective_at), col(Observation.id))
    )
)


def _utc_day(dialect: str, column: Any) -> Any:
    """The UTC calendar day of a stored time, as YYYY-MM-DD text."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC times as ISO text


def _on_days(days: list[str | None]) -> ColumnElement[bool]:
    """Laboratory results without a report, taken on one of these UTC days (None: with no time)."""
    ranges: list[ColumnElement[bool]] = []
    for day in days:
        if day is None:
            ranges.append(col(Observation.effective_at).is_(None))
        else:
            start = datetime.combine(date.fromisoformat(day), time(), UTC)
            ranges.append(
                and_(
                    col(Observation.effective_at) >= start,
                    col(Observation.effective_at) < start + timedelta(1),
                )
            )
    return and_(
        col(Observation.report_resource_id).is_(None),
        col(Observation.category) == LABORATORY,
        or_(false(), *ranges),
    )


def _result_groups(dialect: str, shape: Shape) -> CompoundSelect[Any]:
    """(report, day, at, by_day) of every group of the results page, newest first: a report this scope
    sees with results or text, and each day of laboratory results that came without a report."""
    shown_result = shape.shown(Observation)
    of_report = col(Observation.report_resource_id) == col(DiagnosticReport.resource_id)
    first_result = select(func.min(col(Observation.effective_at))).where(shown_result, of_report)
    reports: Select[Any, Any, Any, Any] = select(
        col(DiagnosticReport.resource_id).label("report"),
        null().label("day"),
        func.coalesce(
            col(DiagnosticReport.effective_at), col(DiagnosticReport.issued), first_result.scalar_subquery()
        ).label("at"),
        literal(0).label("by_day"),
    ).where(
        shape.shown(DiagnosticReport),
        or_(
            func.coalesce(col(DiagnosticReport.text), "") != "",
            func.coalesce(col(DiagnosticReport.conclusion), "") != "",
            exists().where(shown_result, of_report),
        ),
    )
    day = _utc_day(dialect, col(Observation.effective_at))
    days = (
        select(
            null().label("report"),
            day.label("day"),
            func.min(col(Observation.effective_at)).label("at"),
            literal(1).label("by_day"),
        )
        .where(shown_result)
        .where(col(Observation.category) == LABORATORY, col(Observation.report_resource_id).is_(None))
        .group_by(day)
    )
    # Ordered by the union's own column names (a compound SELECT takes no expressions there), without a
    # subquery, whose column collection SQLAlchemy would otherwise build again on every page.
    return union_all(reports, days).order_by(
        literal_column("at").desc().nulls_last(),
        literal_column("by_day"),
        literal_column("report"),
        literal_column("day").desc(),
    )


# Built once for each database and shape of the visibility rule.
def _groups_page(dialect: str, paged: bool) -> Prepared[CompoundSelect[Any]]:
    def build(shape: Shape) -> CompoundSelect[Any]:
        return _result_groups(dialect, shape).limit(LIMIT if paged else None).offset(OFFSET)

    return Prepared(build)


_GROUPS = {
    (dialect, paged): _groups_page(dialect, paged)
    for dialect in ("sqlite", "postgresql")
    for paged in (True, False)
}


def _sort_time(when: datetime | None) -> float:
    return when.timestamp() if when else float("-inf")


def result_history(session: Session, scope: PatientScope, code: str) -> list[Observation]:
    """Every result with this code (a LOINC code, say), oldest first: the history of one test."""
    query = visible(session, scope, select(Observation), Observation)
    return list(
        session.scalars(
            query.where(col(Observation.code) == code).order_by(
                col(Observation.effective_at), col(Observation.id)
            )
        )
    )


def result_histories(session: Session, scope: PatientScope, codes: list[str]) -> dict[str, list[Observation]]:
    """The history of several tests at once (say, every code on one report), oldest first, in one query."""
    query = visible(session, scope, select(Observation), Observation)
    histories: dict[str, list[Observation]] = {code: [] for code in codes}
    for row in session.scalars(
        query.where(col(Observation.code).in_(codes)).order_by(
            col(Observation.effective_at), col(Observation.id)
        )
    ):
        histories[row.code or ""].append(row)
    return histories


def result(session: Session, scope: PatientScope, public_id: str) -> Observation | None:
    return _one(session, scope, Observation, public_id)


def components(session: Session, observation: Observation) -> list[ObservationComponent]:
    """The parts of a multi-part observation (systolic and diastolic of a blood pressure)."""
    return list(
        session.scalars(
            select(ObservationComponent)
            .where(col(ObservationComponent.observation_id) == observation.id)
            .order_by(col(ObservationComponent.position))
        )
    )


def report(session: Session, scope: PatientScope, public_id: str) -> ResultGroup | None:
    """One report with its results."""
    found = _one(session, scope, DiagnosticReport, public_id)
    if found is None:
        return None
    results = session.scalars(
        visible(session, scope, select(Observation), Observation)
        .where(col(Observation.report_resource_id) == found.resource_id)
        .order_by(col(Observation.id))
    )
    return ResultGroup(found, list(results), None)


def recent_results(
    session: Session, scope: PatientScope, limit: int = 20
) -> list[tuple[Observation, DiagnosticReport | None]]:
    """The newest laboratory results, newest first (a result under a hidden report is hidden too), each with
    its report when it has one (for marking its release)."""
    statement, values = _RECENT(session, scope)
    return [(result, report) for result, report in session.execute(statement, {**values, "limit": limit})]


def _recent(shape: Shape) -> Select[Observation, DiagnosticReport]:
    # EXISTS, not IN (every visible report): the walk down the results' index stops after `limit` rows.
    shown_report = exists().where(
        col(DiagnosticReport.resource_id) == col(Observation.report_resource_id),
        shape.shown(DiagnosticReport),
    )
    report = aliased(DiagnosticReport)  # apart from the EXISTS's own, which must not correlate with it
    return (
        select(Observation, report)
        .outerjoin(
            report,
            and_(
                col(report.resource_id) == col(Observation.report_resource_id),
                col(report.patient_id) == col(Observation.patient_id),
            ),
        )
        .where(shape.shown(Observation), col(Observation.category) == LABORATORY)
        .where(col(Observation.report_resource_id).is_(None) | shown_report)
        .order_by(col(Observation.effective_at).desc(), col(Observation.id).desc())
        .limit(LIMIT)
    )


_RECENT = Prepared(_recent)


def result_categories(session: Session) -> list[str]:
    """Every category code results and reports carry (laboratory, LAB, ...), for setting release holds."""
    found: set[str] = set()
    for table in (Observation, DiagnosticReport):
        category = col(table.category)
        found.update(
            c for c in session.scalars(select(category).where(category.is_not(None)).distinct()) if c
        )
    return sorted(found)
