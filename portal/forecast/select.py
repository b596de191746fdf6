"""Choose the best patient series of an antigen (CDSi chapter "select best patient series").

Series are scored the way the specification scores them: a complete series beats one in progress, which
beats one not started; within those, points for the most valid doses, the fewest doses left, finishing or
starting earliest and being the default series; the series preference breaks ties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from portal.forecast.data import Series
from portal.forecast.dates import EARLIEST_DATE, LATEST_DATE, offset
from portal.forecast.model import Forecast, ForecastStatus, Patient, SeriesEvaluation


@dataclass(frozen=True)
class Candidate:
    evaluation: SeriesEvaluation
    forecast: Forecast


def is_relevant(series: Series, patient: Patient) -> bool:
    """Routine series only (risk series need an indication), and the patient's sex where one is required."""
    if series.series_type != "Standard":
        return False
    wanted = {g for g in series.genders if g}
    if not wanted:
        return True
    gender = {"f": "female", "m": "male"}.get(patient.gender.lower()[:1], "unknown")
    return gender in wanted


def can_start(series: Series, patient: Patient, evaluation: SeriesEvaluation, assessment: date) -> bool:
    """Whether the patient started (or may still start) the series within its start ages."""
    valid = evaluation.valid_doses
    moment = valid[0].given_on if valid else assessment
    birth = patient.birth_date
    begin = offset(birth, series.min_age_to_start, EARLIEST_DATE)
    end = offset(birth, series.max_age_to_start, LATEST_DATE)
    return begin <= moment < end


def _completed_on(candidate: Candidate) -> date:
    satisfied = candidate.evaluation.satisfied_by.values()
    return max((d.given_on for d in satisfied), default=LATEST_DATE)


def _points(candidates: list[Candidate], measure: Mapping[int, float], *, highest: bool) -> dict[int, int]:
    if not measure:
        return {}
    best = max(measure.values()) if highest else min(measure.values())
    return {key: 1 for key, value in measure.items() if value == best}


def _score(candidates: list[Candidate], kind: str) -> Candidate:
    scores = dict.fromkeys(range(len(candidates)), 0)

    def add(points: dict[int, int]) -> None:
        for key, value in points.items():
            scores[key] += value

    valid = {i: float(len(c.evaluation.valid_doses)) for i, c in enumerate(candidates)}
    if kind == "complete":
        add(_points(candidates, valid, highest=True))
        add(
            _points(
                candidates, {i: _completed_on(c).toordinal() for i, c in enumerate(candidates)}, highest=False
            )
        )
    else:
        completable = {
            i for i, c in enumerate(candidates) if c.forecast.status is not ForecastStatus.AGED_OUT
        }
        for i in range(len(candidates)):
            scores[i] += 1 if i in completable else -1
        starts = {
            i: (c.forecast.earliest or LATEST_DATE).toordinal()
            for i, c in enumerate(candidates)
            if i in completable
        }
        if kind == "in process":
            add(_points(candidates, valid, highest=True))
            remaining = {
                i: float(len(c.evaluation.series.doses) - c.evaluation.next_target)
                for i, c in enumerate(candidates)
            }
            add(_points(candidates, remaining, highest=False))
            add(_points(candidates, starts, highest=False))
            for i, c in enumerate(candidates):
                if c.evaluation.series.product_path and all(
                    e.status.value == "Valid" for e in c.evaluation.evaluations
                ):
                    scores[i] += 1
        else:
            add(_points(candidates, starts, highest=False))
            for i, c in enumerate(candidates):
                if c.evaluation.series.default:
                    scores[i] += 1
    order = sorted(
        range(len(candidates)),
        key=lambda i: (-scores[i], candidates[i].evaluation.series.preference),
    )
    return candidates[order[0]]


def best_series(candidates: list[Candidate]) -> Candidate | None:
    """The one series whose evaluation and forecast the antigen reports."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    complete = [c for c in candidates if c.forecast.status is ForecastStatus.COMPLETE]
    if complete:
        return _score(complete, "complete")
    started = [c for c in candidates if c.evaluation.valid_doses]
    if started:
        return _score(started, "in process")
    defaults = [c for c in candidates if c.evaluation.series.default]
    return _score(defaults or candidates, "not started")
