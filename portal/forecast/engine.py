"""The forecaster's front door: doses in, evaluation and forecast per vaccine group out."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from portal.forecast import data as supporting
from portal.forecast.dates import EARLIEST_DATE, LATEST_DATE, offset
from portal.forecast.evaluate import evaluate_series
from portal.forecast.forecasting import forecast_series
from portal.forecast.model import (
    AntigenDose,
    AntigenResult,
    DoseGiven,
    Forecast,
    ForecastStatus,
    ImmunizationForecast,
    Patient,
    Reason,
    VaccineGroupForecast,
)
from portal.forecast.select import Candidate, best_series, can_start, is_relevant

# The routine schedules in scope (vaccine group names as the supporting data spells them).
ROUTINE_GROUPS = (
    "DTaP/Tdap/Td",
    "Polio",
    "MMR",
    "Varicella",
    "HepA",
    "HepB",
    "Hib",
    "Pneumococcal",
    "Rotavirus",
    "Meningococcal",
    "Meningococcal B",
    "HPV",
    "Influenza",
    "COVID-19",
    "RSV",
    "Zoster",
)


def _antigen_doses(
    data: supporting.SupportingData, antigen: str, history: Sequence[AntigenDose], birth: date
) -> list[AntigenDose]:
    """The doses that count for `antigen`: their vaccine carries it at the patient's age on the day."""
    found = []
    for dose in history:
        for association in data.cvx_antigens.get(dose.cvx, ()):
            if association.antigen != antigen:
                continue
            begin = offset(birth, association.begin_age, EARLIEST_DATE)
            end = offset(birth, association.end_age, LATEST_DATE)
            if begin <= dose.given_on < end:
                found.append(dose)
                break
    return found


def forecast_antigen(
    data: supporting.SupportingData,
    antigen_name: str,
    patient: Patient,
    history: Sequence[AntigenDose],
    assessment: date,
) -> AntigenResult:
    antigen = data.antigens[antigen_name]
    doses = _antigen_doses(data, antigen_name, history, patient.birth_date)
    candidates = []
    for series in antigen.series:
        if not is_relevant(series, patient):
            continue
        evaluation = evaluate_series(data, patient, series, doses, history)
        outcome = forecast_series(data, patient, evaluation, history, assessment)
        # a series in progress must have been started within its start ages; a complete one counts anyway
        started = bool(evaluation.valid_doses)
        if (
            started
            and outcome.status is not ForecastStatus.COMPLETE
            and not can_start(series, patient, evaluation, assessment)
        ):
            continue
        candidates.append(Candidate(evaluation, outcome))
    chosen = best_series(candidates)
    if antigen.immune_if_born_before and patient.birth_date < antigen.immune_if_born_before:
        return AntigenResult(
            antigen_name, chosen.evaluation if chosen else None, Forecast(ForecastStatus.IMMUNE)
        )
    if chosen is None:
        return AntigenResult(antigen_name, None, Forecast(ForecastStatus.NOT_RECOMMENDED))
    return AntigenResult(antigen_name, chosen.evaluation, chosen.forecast)


def _group_forecast(group: supporting.VaccineGroup, results: Sequence[AntigenResult]) -> Forecast:
    statuses = {r.forecast.status for r in results}
    due = [r.forecast for r in results if r.forecast.status is ForecastStatus.NOT_COMPLETE]
    if not due:
        for status in (ForecastStatus.AGED_OUT, ForecastStatus.NOT_RECOMMENDED, ForecastStatus.COMPLETE):
            if status in statuses:
                return Forecast(status)
        return Forecast(ForecastStatus.IMMUNE)
    # a vaccine given whole (MMR) waits for its last antigen; otherwise the first antigen due leads
    pick = max if group.administer_full_group else min
    past_due = [f.past_due for f in due if f.past_due]
    return Forecast(
        ForecastStatus.NOT_COMPLETE,
        dose_number=min(f.dose_number for f in due if f.dose_number is not None),
        earliest=pick(f.earliest for f in due if f.earliest),
        recommended=pick(f.recommended for f in due if f.recommended),
        past_due=pick(past_due) if past_due else None,
    )


def forecast(
    patient: Patient,
    doses: Sequence[DoseGiven],
    assessment: date,
    *,
    groups: Sequence[str] = ROUTINE_GROUPS,
    data: supporting.SupportingData | None = None,
) -> ImmunizationForecast:
    """Evaluate `doses` and forecast each vaccine group in `groups` as of `assessment`.

    A dose with a CVX code the supporting data does not know, or given after the assessment date, is not
    counted; it is listed in `not_evaluated` with the reason. A dose dated before birth is evaluated and
    found too young, as the CDSi logic does with any dose given below the minimum age.
    """
    data = data or supporting.load()
    not_evaluated: list[tuple[int, Reason]] = []
    history: list[AntigenDose] = []
    for index, dose in enumerate(doses):
        cvx = supporting.normalize_cvx(dose.cvx)
        if dose.given_on > assessment:
            not_evaluated.append((index, Reason.AFTER_ASSESSMENT))
        elif cvx not in data.cvx_antigens:
            not_evaluated.append((index, Reason.UNKNOWN_VACCINE))
        else:
            history.append(AntigenDose(index, dose.given_on, cvx, dose.mvx.strip()))
    history.sort(key=lambda d: (d.given_on, d.index))
    results: dict[str, VaccineGroupForecast] = {}
    for name in groups:
        group = data.vaccine_groups[name]
        antigens = tuple(forecast_antigen(data, a, patient, history, assessment) for a in group.antigens)
        results[name] = VaccineGroupForecast(name, _group_forecast(group, antigens), antigens)
    return ImmunizationForecast(assessment, results, tuple(not_evaluated))
