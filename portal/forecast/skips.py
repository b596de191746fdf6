"""Conditional skips: target doses a patient no longer needs (CDSi "evaluate conditional skip")."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from portal.forecast.data import Condition, ConditionalSkip, ConditionSet
from portal.forecast.dates import EARLIEST_DATE, LATEST_DATE, offset
from portal.forecast.model import AntigenDose, Patient


@dataclass(frozen=True)
class SkipContext:
    """What a skip condition looks at, as of `reference` (the dose's date, or the assessment date)."""

    patient: Patient
    reference: date
    evaluating: bool  # True while evaluating a dose; False while forecasting
    doses: Sequence[AntigenDose]  # every dose of the patient, as of the reference
    valid_doses: Sequence[AntigenDose]  # doses of this series evaluated valid so far
    previous: AntigenDose | None  # the dose given just before the reference


def _within(moment: date, start: date | None, end: date | None) -> bool:
    return (start is None or moment >= start) and (end is None or moment <= end)


def _compare(count: int, logic: str, expected: int) -> bool:
    if logic.startswith("greater"):
        return count > expected
    if logic.startswith("less"):
        return count < expected
    return count == expected


def _condition_met(condition: Condition, context: SkipContext) -> bool:
    birth = context.patient.birth_date
    kind = condition.kind
    if kind == "age":
        begin = offset(birth, condition.begin_age, EARLIEST_DATE)
        end = offset(birth, condition.end_age, LATEST_DATE)
        return begin <= context.reference < end
    if kind == "interval":
        if context.previous is None or condition.interval is None:
            return False
        return context.reference >= offset(context.previous.given_on, condition.interval, LATEST_DATE)
    if kind.startswith("vaccine count"):
        pool = context.valid_doses if condition.valid_doses_only else context.doses
        counted = [
            dose
            for dose in pool
            if (
                dose.given_on < context.reference
                if context.evaluating
                else dose.given_on <= context.reference
            )
            and (not condition.vaccine_types or dose.cvx in condition.vaccine_types)
            and ("age" not in kind or _dose_in_age(dose, condition, birth))
            and ("date" not in kind or _dose_in_dates(dose, condition))
        ]
        return _compare(len(counted), condition.count_logic, condition.dose_count)
    # "completed series" needs risk series, out of scope for healthy patients: never met
    return False


def _dose_in_age(dose: AntigenDose, condition: Condition, birth: date) -> bool:
    begin = offset(birth, condition.begin_age, EARLIEST_DATE)
    end = offset(birth, condition.end_age, LATEST_DATE)
    return begin <= dose.given_on < end


def _dose_in_dates(dose: AntigenDose, condition: Condition) -> bool:
    start = condition.start_date or EARLIEST_DATE
    end = condition.end_date or LATEST_DATE
    return start <= dose.given_on < end


def _set_met(condition_set: ConditionSet, context: SkipContext) -> bool:
    if not _within(context.reference, condition_set.effective, condition_set.cessation):
        return False
    results = [_condition_met(c, context) for c in condition_set.conditions]
    return all(results) if condition_set.all_required else any(results)


def skip_applies(skips: Sequence[ConditionalSkip], context: SkipContext) -> bool:
    """True when one of the target dose's skips (in this context: evaluation or forecast) is met."""
    wanted = "evaluation" if context.evaluating else "forecast"
    for skip in skips:
        if skip.context not in (wanted, "both"):
            continue
        results = [_set_met(s, context) for s in skip.sets]
        if all(results) if skip.all_sets_required else any(results):
            return True
    return False
