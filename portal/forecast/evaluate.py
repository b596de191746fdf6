"""Evaluate each dose given against one patient series (CDSi chapter "evaluate vaccine dose administered").

For each dose, in date order, against the series' first open target dose: conditional skip, inadvertent
vaccine, age, preferable then allowable interval, live-virus conflict, preferable then allowable vaccine.
A valid dose satisfies the target dose; any other leaves it open for the next dose.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from portal.forecast.data import AgeRule, IntervalRule, Series, SupportingData, TargetDose, VaccineRule
from portal.forecast.dates import EARLIEST_DATE, LATEST_DATE, offset
from portal.forecast.model import (
    AntigenDose,
    DoseEvaluation,
    DoseStatus,
    Patient,
    Reason,
    SeriesEvaluation,
)
from portal.forecast.skips import SkipContext, skip_applies


def _in_force(moment: date, effective: date | None, cessation: date | None) -> bool:
    return (effective is None or moment >= effective) and (cessation is None or moment <= cessation)


def age_rule(target: TargetDose, moment: date) -> AgeRule | None:
    """The target dose's age rule in force on `moment` (the supporting data dates some of them)."""
    for rule in target.ages:
        if _in_force(moment, rule.effective, rule.cessation):
            return rule
    return target.ages[0] if target.ages else None


def previous_dose(evaluation: SeriesEvaluation) -> AntigenDose | None:
    """The dose an interval "from previous" counts from: the last one evaluated, valid or not."""
    for done in reversed(evaluation.evaluations):
        if done.status in (DoseStatus.VALID, DoseStatus.NOT_VALID) and done.reason is not Reason.INADVERTENT:
            return done.dose
    return None


def interval_start(
    rule: IntervalRule, evaluation: SeriesEvaluation, history: Sequence[AntigenDose], before: date
) -> date | None:
    """The date an interval counts from, or None when the interval does not apply."""
    if rule.from_target_dose is not None:
        satisfied = evaluation.satisfied_by.get(rule.from_target_dose - 1)
        return satisfied.given_on if satisfied else None
    if rule.from_most_recent:
        dates = [d.given_on for d in history if d.cvx in rule.from_most_recent and d.given_on < before]
        return max(dates) if dates else None
    if rule.from_previous:
        previous = previous_dose(evaluation)
        return previous.given_on if previous else None
    return None  # from an observation: not part of the routine schedule


def applicable_intervals(
    rules: Sequence[IntervalRule], evaluation: SeriesEvaluation, history: Sequence[AntigenDose], moment: date
) -> list[tuple[IntervalRule, date]]:
    found = []
    for rule in rules:
        if not _in_force(moment, rule.effective, rule.cessation):
            continue
        start = interval_start(rule, evaluation, history, moment)
        if start is not None:
            found.append((rule, start))
    return found


def _vaccine_matches(rule: VaccineRule, dose: AntigenDose, birth: date, *, check_mvx: bool) -> bool:
    if rule.cvx != dose.cvx:
        return False
    if (
        not offset(birth, rule.begin_age, EARLIEST_DATE)
        <= dose.given_on
        < offset(birth, rule.end_age, LATEST_DATE)
    ):
        return False
    return not (check_mvx and rule.mvx and dose.mvx and rule.mvx.upper() != dose.mvx.upper())


def live_virus_conflict(
    data: SupportingData, dose: AntigenDose, history: Sequence[AntigenDose], invalid: set[int]
) -> bool:
    """True when a live vaccine came too soon after another live vaccine (the schedule's conflict table)."""
    for conflict in data.conflicts_by_current.get(dose.cvx, ()):
        for earlier in history:
            if earlier.cvx != conflict.previous_cvx or earlier.given_on >= dose.given_on:
                continue
            begin = offset(earlier.given_on, conflict.begin, EARLIEST_DATE)
            # a valid earlier dose earns the grace period; an invalid one is held to the full interval
            end_duration = conflict.end if earlier.index in invalid else conflict.minimum_end
            end = offset(earlier.given_on, end_duration, LATEST_DATE)
            if begin <= dose.given_on < end:
                return True
    return False


def _judge(
    data: SupportingData,
    patient: Patient,
    target: TargetDose,
    dose: AntigenDose,
    evaluation: SeriesEvaluation,
    history: Sequence[AntigenDose],
) -> tuple[DoseStatus, Reason | None]:
    birth = patient.birth_date
    if dose.cvx in target.inadvertent:
        return DoseStatus.NOT_VALID, Reason.INADVERTENT
    previous = previous_dose(evaluation)
    previous_valid = not evaluation.evaluations or (
        previous is not None
        and any(e.dose == previous and e.status is DoseStatus.VALID for e in evaluation.evaluations)
    )
    rule = age_rule(target, dose.given_on)
    if rule is not None:
        if dose.given_on >= offset(birth, rule.maximum, LATEST_DATE):
            return DoseStatus.EXTRANEOUS, Reason.TOO_OLD
        if dose.given_on < offset(birth, rule.absolute_minimum, EARLIEST_DATE):
            return DoseStatus.NOT_VALID, Reason.TOO_YOUNG
        if dose.given_on < offset(birth, rule.minimum, EARLIEST_DATE) and not previous_valid:
            return DoseStatus.NOT_VALID, Reason.TOO_YOUNG
    intervals = applicable_intervals(target.intervals, evaluation, history, dose.given_on)
    if not _intervals_met(intervals, dose.given_on, previous_valid):
        allowable = applicable_intervals(target.allowable_intervals, evaluation, history, dose.given_on)
        if not allowable or not all(
            dose.given_on >= offset(start, rule.absolute_minimum, EARLIEST_DATE) for rule, start in allowable
        ):
            return DoseStatus.NOT_VALID, Reason.TOO_SOON
    invalid = {e.dose.index for e in evaluation.evaluations if e.status is DoseStatus.NOT_VALID}
    if live_virus_conflict(data, dose, history, invalid):
        return DoseStatus.NOT_VALID, Reason.LIVE_VIRUS
    if not any(_vaccine_matches(v, dose, birth, check_mvx=True) for v in target.preferable) and not any(
        _vaccine_matches(v, dose, birth, check_mvx=False) for v in target.allowable
    ):
        return DoseStatus.NOT_VALID, Reason.NOT_ALLOWED
    return DoseStatus.VALID, None


def _intervals_met(intervals: list[tuple[IntervalRule, date]], given_on: date, previous_valid: bool) -> bool:
    for rule, start in intervals:
        if given_on < offset(start, rule.absolute_minimum, EARLIEST_DATE):
            return False
        if given_on < offset(start, rule.minimum, EARLIEST_DATE) and not previous_valid:
            return False
    return True


def evaluate_series(
    data: SupportingData,
    patient: Patient,
    series: Series,
    doses: Sequence[AntigenDose],
    history: Sequence[AntigenDose],
) -> SeriesEvaluation:
    """Evaluate the antigen's `doses` (in date order) against `series`; `history` holds all the doses."""
    evaluation = SeriesEvaluation(series=series)
    targets = series.doses
    for dose in doses:
        while evaluation.next_target < len(targets):
            target = targets[evaluation.next_target]
            context = SkipContext(
                patient=patient,
                reference=dose.given_on,
                evaluating=True,
                doses=history,
                valid_doses=evaluation.valid_doses,
                previous=previous_dose(evaluation),
            )
            if not skip_applies(target.skips, context):
                break
            evaluation.skipped.add(evaluation.next_target)
            evaluation.next_target += 1
        if evaluation.complete:
            evaluation.evaluations.append(DoseEvaluation(dose, DoseStatus.EXTRANEOUS, Reason.COMPLETE))
            continue
        target = targets[evaluation.next_target]
        status, reason = _judge(data, patient, target, dose, evaluation, history)
        evaluation.evaluations.append(DoseEvaluation(dose, status, reason, target.number))
        if status is DoseStatus.VALID:
            evaluation.satisfied_by[evaluation.next_target] = dose
            if not target.recurring:
                evaluation.next_target += 1
    return evaluation
