"""The one visibility rule: which of a patient's record rows a patient scope may see, as SQL.

Every output of the record (pages, htmx fragments, history charts, the summary's recent results, the visit
page, the PDFs, the FHIR download) reads its rows through `visible`, `condition` or a `Prepared` statement
(the same rule, built once with its values as parameters), so a rule changed here changes everywhere at
once. Given a scope and a record table, a row is shown when:
- it is this patient's (never another's, whatever id a URL carries);
- the viewer sees confidential items (the patient, a full proxy, a clinician), or the row is not
  confidential: neither its stored `confidential` flag (set at import from every coding, meta.security
  and what the item points at) nor a sensitive code (services/sensitive_codes.py, kept as a second check);
- it is released, for patients and proxies: a result (Observation) or report (DiagnosticReport) whose
  category a clinician holds stays hidden until the hold runs out (`results.released_at`). A result under
  a held report is held; a report whose every result is held waits with them. Staff see held rows,
  marked "not yet released" through `released`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Integer, and_, bindparam, exists, false, or_, select, tuple_
from sqlalchemy.orm import aliased
from sqlmodel import Session, col

from portal.models.base import UTCDateTime
from portal.models.records import (
    Allergy,
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    FhirResource,
    Immunization,
    MedicationRequest,
    Observation,
    Procedure,
    RecordItem,
)
from portal.models.results import ResultHold
from portal.services import results
from portal.services.access import PatientScope
from portal.services.sensitive_codes import SENSITIVE_CODES

Query = TypeVar("Query")
_SENSITIVE = sorted(SENSITIVE_CODES)
_HOLDS_KEY = "portal.result_holds"
# Every projection of a record resource (for the FHIR download: a hidden row hides its resource).
RECORD_TABLES: tuple[type[RecordItem], ...] = (
    Allergy,
    ClinicalDocument,
    Condition,
    DiagnosticReport,
    Encounter,
    Immunization,
    MedicationRequest,
    Observation,
    Procedure,
)
# The tables that release holds apply to: the results and the reports that carry them.
HELD_TABLES: tuple[type[RecordItem], ...] = (Observation, DiagnosticReport)


def holds(session: Session) -> dict[str, ResultHold]:
    """The clinic's release holds by category, read once per transaction (a handful of rows)."""
    cached: dict[str, ResultHold] | None = session.info.get(_HOLDS_KEY)
    if cached is None:
        cached = session.info[_HOLDS_KEY] = results.holds(session)
    return cached


def forget_holds(session: Session) -> None:
    """After a hold is set or cleared in this transaction, read them again."""
    session.info.pop(_HOLDS_KEY, None)


def condition(session: Session, scope: PatientScope, table: type[RecordItem]) -> ColumnElement[bool]:
    """The SQL condition for the rows of `table` this scope may see (its values bound in it)."""
    shape = Shape.of(session, scope, reads_held=table in HELD_TABLES)
    return _rule(table, shape, shape.values(session, scope))


def visible(session: Session, scope: PatientScope, query: Query, table: type[RecordItem]) -> Query:
    """`query` narrowed to the rows of `table` this scope may see."""
    narrowed: Query = query.where(condition(session, scope, table))  # type: ignore[attr-defined]
    return narrowed


# The rule as a statement built once --------------------------------------------------------------
# Building a statement costs more than running it, so the pages' readers build theirs once for each shape
# of the rule (`Prepared`) and run it with the scope's values as parameters (`Shape.values`).

PATIENT_PARAMETER = "shown_patient_id"
HELD_PARAMETER = "held_"  # held_category_N, held_cutoff_N


@dataclass(frozen=True)
class Shape:
    """What the rule's SQL depends on, apart from the values it compares with."""

    sees_confidential: bool
    holds: int  # how many categories are held from this scope (none for staff)

    @classmethod
    def of(cls, session: Session, scope: PatientScope, *, reads_held: bool = True) -> Shape:
        """The shape for this scope; `reads_held`: whether the statement reads a table holds apply to (if
        not, the holds are not read: one statement fewer)."""
        held = 0 if scope.staff or not reads_held else len(holds(session))
        return cls(scope.sees_confidential, held)

    def values(self, session: Session, scope: PatientScope) -> dict[str, Any]:
        """The parameters of the rule for this scope: the patient, and each held category's cutoff."""
        found: dict[str, Any] = {PATIENT_PARAMETER: scope.patient_id}
        if self.holds:
            for index, (category, cutoff) in enumerate(_cutoffs(holds(session), scope.now)):
                found[f"{HELD_PARAMETER}category_{index}"] = category
                found[f"{HELD_PARAMETER}cutoff_{index}"] = cutoff
        return found

    def shown(self, table: type[RecordItem]) -> ColumnElement[bool]:
        """The rule for `table`, its values left as parameters: for a statement built once."""
        return _rule(table, self, None)


Built = TypeVar("Built")


class Prepared(Generic[Built]):
    """A statement built once for each shape of the rule by `build(shape)`, which narrows each record
    table it reads with `shape.shown(table)`; called, it gives the statement and the scope's parameters."""

    def __init__(self, build: Callable[[Shape], Built]) -> None:
        self._build = build
        self._built: dict[Shape, Built] = {}
        self._reads_held: bool | None = None  # whether the rule's holds appear in the statement

    def __call__(self, session: Session, scope: PatientScope) -> tuple[Built, dict[str, Any]]:
        if self._reads_held is None:
            probe: Any = self._build(Shape(sees_confidential=False, holds=1))
            self._reads_held = any(name.startswith(HELD_PARAMETER) for name in probe.compile().params)
        shape = Shape.of(session, scope, reads_held=self._reads_held)
        statement = self._built.get(shape)
        if statement is None:
            statement = self._built[shape] = self._build(shape)
        return statement, shape.values(session, scope)


def _parameter(name: str, values: dict[str, Any] | None, type_: Any = None) -> Any:
    if values is None:
        return bindparam(name, type_=type_)
    return bindparam(name, values[name], type_=type_, unique=True)  # two scopes in one statement differ


def _rule(table: type[RecordItem], shape: Shape, values: dict[str, Any] | None) -> ColumnElement[bool]:
    shown: ColumnElement[bool] = col(table.patient_id) == _parameter(PATIENT_PARAMETER, values, Integer())
    if not shape.sees_confidential:
        shown = and_(
            shown,
            col(table.confidential).is_(False),
            tuple_(col(table.code_system), col(table.code)).not_in(_SENSITIVE) | col(table.code).is_(None),
        )
    if shape.holds and table in HELD_TABLES:
        cutoffs = [
            (
                _parameter(f"{HELD_PARAMETER}category_{index}", values),
                _parameter(f"{HELD_PARAMETER}cutoff_{index}", values, UTCDateTime()),
            )
            for index in range(shape.holds)
        ]
        held = _observation_held(table, cutoffs) if table is Observation else _report_held(table, cutoffs)
        shown = and_(shown, ~held)
    return shown


def hidden_resource_ids(
    session: Session, scope: PatientScope, tables: tuple[type[RecordItem], ...]
) -> set[int]:
    """The `fhir_resource` ids of this patient's rows the scope may not see (for the FHIR download)."""
    hidden: set[int] = set()
    for table in tables:
        hidden.update(
            session.scalars(
                select(col(table.resource_id))
                .where(col(table.patient_id) == scope.patient_id)
                .where(~condition(session, scope, table))
            )
        )
    if not scope.sees_confidential:
        # What the portal keeps without a page of its own (a teen's own message as a Communication, say)
        # is hidden by its own label.
        hidden.update(
            session.scalars(
                select(col(FhirResource.id))
                .where(col(FhirResource.patient_id) == scope.patient_id)
                .where(col(FhirResource.confidential_reason).is_not(None))
            )
        )
    return hidden


def released(
    observation: Observation | None,
    report: DiagnosticReport | None,
    holds_by_category: dict[str, ResultHold],
    *,
    now: datetime,
) -> bool:
    """Whether a result (with its report) or a report alone is released: what staff see marked."""
    if observation is not None:
        issued = observation.issued or (report.issued if report else None)
        if not results.is_released(issued, observation.category, holds_by_category, now=now):
            return False
    if report is not None:
        issued = report.issued or (observation.issued if observation else None)
        return results.is_released(issued, report.category, holds_by_category, now=now)
    return True


# The hold conditions -------------------------------------------------------------------------------


def _cutoffs(holds_by_category: dict[str, ResultHold], now: datetime) -> list[tuple[str, datetime]]:
    """(category, cutoff): a row of that category issued after its cutoff is still held."""
    return [
        (category, now - timedelta(hours=holds_by_category[category].hold_hours))
        for category in sorted(holds_by_category)
    ]


# A held category and its cutoff, as SQL parameters.
Cutoffs = list[tuple[Any, Any]]


def _after(column: Any, cutoff: datetime) -> ColumnElement[bool]:
    # never NULL: a row with no issue time counts as released (the EHR sent it as final)
    return and_(column.is_not(None), column > cutoff)


def _any(conditions: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    return or_(false(), *conditions) if conditions else false()


def _observation_own_hold(obs: Any, cutoffs: Cutoffs) -> ColumnElement[bool]:
    """The result's own category is held (issued: its own time, else its report's)."""
    report = aliased(DiagnosticReport)
    return _any(
        [
            and_(
                col(obs.category).is_not(None),
                obs.category == category,
                or_(
                    _after(obs.issued, cutoff),
                    and_(
                        obs.issued.is_(None),
                        exists().where(
                            report.resource_id == obs.report_resource_id, _after(report.issued, cutoff)
                        ),
                    ),
                ),
            )
            for category, cutoff in cutoffs
        ]
    )


def _report_own_hold(report: Any, cutoffs: Cutoffs) -> ColumnElement[bool]:
    return _any(
        [
            and_(
                col(report.category).is_not(None), report.category == category, _after(report.issued, cutoff)
            )
            for category, cutoff in cutoffs
        ]
    )


def _observation_held(obs: Any, cutoffs: Cutoffs) -> ColumnElement[bool]:
    report = aliased(DiagnosticReport)
    under_held_report = exists().where(
        report.resource_id == obs.report_resource_id, _report_own_hold(report, cutoffs)
    )
    return or_(_observation_own_hold(obs, cutoffs), under_held_report)


def _report_held(report: Any, cutoffs: Cutoffs) -> ColumnElement[bool]:
    held_result, released_result = aliased(Observation), aliased(Observation)
    some_held = exists().where(
        held_result.report_resource_id == report.resource_id, _observation_own_hold(held_result, cutoffs)
    )
    some_released = exists().where(
        released_result.report_resource_id == report.resource_id,
        ~_observation_own_hold(released_result, cutoffs),
    )
    return or_(_report_own_hold(report, cutoffs), and_(some_held, ~some_released))
