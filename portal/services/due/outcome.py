"""The CDSi forecast as the due pages use it: per vaccine group its status, next dose and dates, and why
each dose did not count, in small immutable values remembered per process.

The forecast is a pure function of the birth date, the sex, the doses counted (date and CVX) and the
assessment day, and the engine costs milliseconds: a page asked again for the same record on the same
day finds the answer here. The doses are still read through the patient scope on every request, so what
a viewer may see is decided each time and a new dose is a new key. What a view leaves out (the groups of
a hidden dose) and what only staff see are applied by the caller on the remembered answer, which callers
cannot change (frozen dataclasses and tuples all the way down).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date

from portal import forecast as cdsi

CACHE_SIZE = 2048  # records remembered per process; each answer is a few kilobytes


@dataclass(frozen=True)
class GroupOutcome:
    """One vaccine group's forecast, as `services.due.vaccines` turns it into a line of the page."""

    name: str
    status: cdsi.ForecastStatus
    dose_number: int | None
    recommended: date | None
    past_due: date | None
    valid_doses: int  # how many doses counted (the most any of the group's antigens counted)


@dataclass(frozen=True)
class Outcome:
    groups: tuple[GroupOutcome, ...]  # in the engine's order of vaccine groups
    not_evaluated: tuple[tuple[int, cdsi.Reason], ...]  # doses left out, by their index in the doses given
    # For each dose given (by index): the groups that found it not valid or extraneous, and the reason.
    not_valid: tuple[tuple[tuple[str, cdsi.Reason], ...], ...]


def outcome(patient: cdsi.Patient, doses: tuple[cdsi.DoseGiven, ...], today: date) -> Outcome:
    """The forecast for these doses on `today`, remembered (the arguments are the whole key)."""
    return _remembered(patient, doses, today)


@functools.lru_cache(maxsize=CACHE_SIZE)
def _remembered(patient: cdsi.Patient, doses: tuple[cdsi.DoseGiven, ...], today: date) -> Outcome:
    return summarize(cdsi.forecast(patient, doses, today), len(doses))


def forget() -> None:
    """Drop every remembered answer (after the supporting data changes, and between tests)."""
    _remembered.cache_clear()


def summarize(result: cdsi.ImmunizationForecast, dose_count: int) -> Outcome:
    groups = tuple(
        GroupOutcome(
            name,
            group.forecast.status,
            group.forecast.dose_number,
            group.forecast.recommended,
            group.forecast.past_due,
            max((len(r.best.valid_doses) for r in group.antigens if r.best is not None), default=0),
        )
        for name, group in result.vaccine_groups.items()
    )
    not_valid = tuple(
        tuple(
            (name, evaluation.reason)
            for name, group in result.vaccine_groups.items()
            if (evaluation := group.dose_status(index)) is not None
            and evaluation.status is not cdsi.DoseStatus.VALID
            and evaluation.reason is not None
        )
        for index in range(dose_count)
    )
    return Outcome(groups, tuple(result.not_evaluated), not_valid)
