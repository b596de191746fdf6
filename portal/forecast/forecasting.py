"""Forecast the next target dose of one patient series (CDSi chapter "forecast dates and reasons")."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from portal.forecast.data import SupportingData
from portal.forecast.dates import EARLIEST_DATE, LATEST_DATE, offset
from portal.forecast.evaluate import age_rule, applicable_intervals, previous_dose
from portal.forecast.model import AntigenDose, Forecast, ForecastStatus, Patient, SeriesEvaluation
from portal.forecast.skips import SkipContext, skip_applies

ONE_DAY = timedelta(days=1)


def open_target(
    patient: Patient, evaluation: SeriesEvaluation, history: Sequence[AntigenDose], assessment: date
) -> int:
    """The target dose to forecast, after the skips that apply on the assessment date."""
    targets = evaluation.series.doses
    index = evaluation.next_target
    while index < len(targets):
        context = SkipContext(
            patient=patient,
            reference=assessment,
            evaluating=False,
            doses=history,
            valid_doses=evaluation.valid_doses,
            previous=previous_dose(evaluation),
        )
        if not skip_applies(targets[index].skips, context):
            break
        index += 1
    return index


def _live_virus_wait(
    data: SupportingData, cvx_codes: set[str], history: Sequence[AntigenDose]
) -> date | None:
    """The day a live vaccine may be given again after the live vaccines already given."""
    ends = [
        offset(earlier.given_on, conflict.end, EARLIEST_DATE)
        for cvx in cvx_codes
        for conflict in data.conflicts_by_current.get(cvx, ())
        for earlier in history
        if earlier.cvx == conflict.previous_cvx
    ]
    return max(ends) if ends else None


def forecast_series(
    data: SupportingData,
    patient: Patient,
    evaluation: SeriesEvaluation,
    history: Sequence[AntigenDose],
    assessment: date,
) -> Forecast:
    series = evaluation.series
    index = open_target(patient, evaluation, history, assessment)
    if index >= len(series.doses):
        return Forecast(ForecastStatus.COMPLETE)
    target = series.doses[index]
    birth = patient.birth_date
    rule = age_rule(target, assessment)
    maximum = offset(birth, rule.maximum if rule else None, LATEST_DATE)
    if assessment >= maximum:
        return Forecast(ForecastStatus.AGED_OUT)

    earliest_candidates = [offset(birth, rule.minimum if rule else None, birth)]
    intervals = applicable_intervals(target.intervals, evaluation, history, assessment + ONE_DAY)
    for interval, start in intervals:
        if interval.minimum is not None:
            earliest_candidates.append(offset(start, interval.minimum, start))
    # recommended and past-due dates come from the age when the target dose has one, else from the
    # intervals; an interval marked "override" counts alongside the age (the later date wins)
    by_age = rule is not None and rule.earliest_recommended is not None
    recommended_candidates = [
        offset(start, i.earliest_recommended, start)
        for i, start in intervals
        if i.earliest_recommended and (i.overrides or not by_age)
    ]
    if rule and rule.earliest_recommended is not None:
        recommended_candidates.append(offset(birth, rule.earliest_recommended, birth))
    by_age = rule is not None and rule.latest_recommended is not None
    past_due_candidates = [
        offset(start, i.latest_recommended, start) - ONE_DAY
        for i, start in intervals
        if i.latest_recommended and (i.overrides or not by_age)
    ]
    if rule and rule.latest_recommended is not None:
        past_due_candidates.append(offset(birth, rule.latest_recommended, birth) - ONE_DAY)

    forecast_cvx = {v.cvx for v in target.preferable if v.forecast} or {v.cvx for v in target.preferable}
    wait = _live_virus_wait(data, forecast_cvx, history)
    if wait is not None:
        earliest_candidates.append(wait)
    if history:
        # never earlier than the last dose given: a dose that did not count is repeated, not back-dated
        earliest_candidates.append(max(d.given_on for d in history))
    if target.season_start is not None:
        earliest_candidates.append(target.season_start)

    earliest = max(earliest_candidates)
    if earliest >= maximum:
        return Forecast(ForecastStatus.AGED_OUT)
    recommended = max([earliest, *recommended_candidates])
    past_due = max([*past_due_candidates, recommended]) if past_due_candidates else None
    return Forecast(
        ForecastStatus.NOT_COMPLETE,
        dose_number=target.number,
        earliest=earliest,
        recommended=recommended,
        past_due=past_due,
        latest=None if maximum == LATEST_DATE else maximum - ONE_DAY,
    )
