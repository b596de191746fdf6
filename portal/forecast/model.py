"""What goes into the forecaster and what comes out of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from portal.forecast.data import Series


class DoseStatus(StrEnum):
    VALID = "Valid"
    NOT_VALID = "Not Valid"
    EXTRANEOUS = "Extraneous"
    NOT_EVALUATED = "Not evaluated"  # not counted at all: unknown vaccine, or given after the assessment date


class Reason(StrEnum):
    TOO_YOUNG = "Age: Too Young"
    TOO_OLD = "Age: Too Old"
    TOO_SOON = "Interval: Too Soon"
    LIVE_VIRUS = "Live Virus Conflict"
    INADVERTENT = "Inadvertent Vaccine"
    NOT_ALLOWED = "Not a preferable or allowable vaccine"
    COMPLETE = "Series Already Complete"
    UNKNOWN_VACCINE = "Unknown vaccine (CVX not in the supporting data)"
    AFTER_ASSESSMENT = "Given after the assessment date"


class ForecastStatus(StrEnum):
    NOT_COMPLETE = "Not complete"
    COMPLETE = "Complete"
    IMMUNE = "Immune"
    AGED_OUT = "Aged out"
    NOT_RECOMMENDED = "Not recommended"


@dataclass(frozen=True)
class Patient:
    birth_date: date
    gender: str = ""  # "F", "M" or empty when unknown


@dataclass(frozen=True)
class DoseGiven:
    """One immunization in the record: when, which vaccine (CVX) and, if known, its maker (MVX)."""

    given_on: date
    cvx: str
    mvx: str = ""


@dataclass(frozen=True)
class AntigenDose:
    """A dose as one antigen sees it; `index` is its position in the patient's list of doses."""

    index: int
    given_on: date
    cvx: str
    mvx: str


@dataclass(frozen=True)
class DoseEvaluation:
    dose: AntigenDose
    status: DoseStatus
    reason: Reason | None = None
    target_dose: int | None = None  # the series' target dose it was measured against (1-based)


@dataclass
class SeriesEvaluation:
    series: Series
    evaluations: list[DoseEvaluation] = field(default_factory=list)
    satisfied_by: dict[int, AntigenDose] = field(default_factory=dict)  # target dose index -> dose
    skipped: set[int] = field(default_factory=set)
    next_target: int = 0  # index of the first target dose still open; len(doses) when complete

    @property
    def complete(self) -> bool:
        return self.next_target >= len(self.series.doses)

    @property
    def valid_doses(self) -> list[AntigenDose]:
        return [e.dose for e in self.evaluations if e.status is DoseStatus.VALID]


@dataclass(frozen=True)
class Forecast:
    status: ForecastStatus
    dose_number: int | None = None
    earliest: date | None = None
    recommended: date | None = None
    past_due: date | None = None
    latest: date | None = None


@dataclass(frozen=True)
class AntigenResult:
    antigen: str
    best: SeriesEvaluation | None
    forecast: Forecast


@dataclass(frozen=True)
class VaccineGroupForecast:
    vaccine_group: str
    forecast: Forecast
    antigens: tuple[AntigenResult, ...]

    def dose_status(self, index: int) -> DoseEvaluation | None:
        """The group's verdict on one dose: not valid for any antigen makes it not valid for the group."""
        found = [
            e
            for result in self.antigens
            if result.best
            for e in result.best.evaluations
            if e.dose.index == index
        ]
        for status in (DoseStatus.NOT_VALID, DoseStatus.EXTRANEOUS, DoseStatus.VALID):
            for evaluation in found:
                if evaluation.status is status:
                    return evaluation
        return None


@dataclass(frozen=True)
class ImmunizationForecast:
    assessment_date: date
    vaccine_groups: dict[str, VaccineGroupForecast]
    not_evaluated: tuple[tuple[int, Reason], ...]  # doses left out, with the reason, for staff
