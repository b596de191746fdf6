"""Growth against reference centiles (rcpchgrowth: validated CDC, WHO and UK-WHO references).

Every measurement gets its SDS (z-score) and centile; one more than 4 SDs from the median is flagged as
implausible (probably a charting error), shown with the flag and never hidden. `chart()` returns the
geometry of a small chart (centile curves and the child's points) that a template draws as inline SVG.

rcpchgrowth (with numpy and scipy, about 85 MB) is imported by the functions that use it, not here: a web
worker that never shows a growth chart never loads it. The centile curves depend only on the reference,
measure, sex and age window, so each is computed once per process and kept.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import lru_cache

IMPLAUSIBLE_SDS = 4.0
GROWTH_CHART_MAX_AGE = 20.0  # growth charts are for anyone under 20
# The centile lines CDC charts draw, with their z-scores.
CENTILE_LINES: tuple[tuple[int, float], ...] = (
    (5, -1.6449),
    (10, -1.2816),
    (25, -0.6745),
    (50, 0.0),
    (75, 0.6745),
    (90, 1.2816),
    (95, 1.6449),
)


class Measure(StrEnum):
    WEIGHT = "weight"
    HEIGHT = "height"
    BMI = "bmi"
    HEAD = "ofc"  # occipito-frontal (head) circumference


# The records service names its growth series; these are the references' names for them.
MEASURE_OF_SERIES = {
    "weight": Measure.WEIGHT,
    "height": Measure.HEIGHT,
    "bmi": Measure.BMI,
    "head_circumference": Measure.HEAD,
}
REFERENCE_UNITS = {Measure.WEIGHT: "kg", Measure.HEIGHT: "cm", Measure.BMI: "kg/m2", Measure.HEAD: "cm"}


class Band(StrEnum):
    WITHIN = "within"  # between the 5th and 95th centile lines
    LOW = "low"  # below the 5th
    HIGH = "high"  # above the 95th
    IMPLAUSIBLE = "implausible"  # more than 4 SD from the median: check the measurement
    NO_REFERENCE = "no_reference"  # no reference data at this age (e.g. BMI under 2, head after 3)


@dataclass(frozen=True)
class Assessment:
    measure: Measure
    taken_on: date
    age_years: float
    value: float  # in the reference unit
    unit: str
    sds: float | None
    centile: float | None
    band: Band


@dataclass(frozen=True)
class Chart:
    measure: Measure
    width: int
    height: int
    x_ticks: list[tuple[float, str]]  # (x position, label)
    y_ticks: list[tuple[float, str]]
    lines: list[tuple[int, str]]  # (centile, SVG points "x,y x,y ...")
    points: list[tuple[float, float, Assessment]]  # (x, y, the measurement)
    age_label: str  # "months" or "years"


def assess(
    measure: Measure, value: float, *, sex: str, birth_date: date, taken_on: date, reference: str = "cdc"
) -> Assessment:
    """The SDS, centile and band of one measurement (value in the reference unit)."""
    from rcpchgrowth import centile as centile_for_sds
    from rcpchgrowth import chronological_decimal_age, sds_for_measurement

    age = chronological_decimal_age(birth_date, taken_on)
    unit = REFERENCE_UNITS[measure]
    if sex not in ("male", "female") or not 0 <= age < GROWTH_CHART_MAX_AGE:
        return Assessment(measure, taken_on, age, value, unit, None, None, Band.NO_REFERENCE)
    try:
        sds = float(
            sds_for_measurement(
                reference=reference,
                age=age,
                measurement_method=measure.value,
                observation_value=value,
                sex=sex,
            )
        )
    except (LookupError, ValueError, TypeError):
        return Assessment(measure, taken_on, age, value, unit, None, None, Band.NO_REFERENCE)
    if not math.isfinite(sds):
        return Assessment(measure, taken_on, age, value, unit, None, None, Band.NO_REFERENCE)
    centile = float(centile_for_sds(sds))
    if abs(sds) > IMPLAUSIBLE_SDS:
        band = Band.IMPLAUSIBLE
    elif centile < 5:
        band = Band.LOW
    elif centile > 95:
        band = Band.HIGH
    else:
        band = Band.WITHIN
    return Assessment(measure, taken_on, age, value, unit, round(sds, 2), round(centile, 1), band)


def chart(
    assessments: list[Assessment], *, sex: str, reference: str = "cdc", width: int = 320, height: int = 220
) -> Chart | None:
    """Geometry for one measure's chart: centile curves over the child's age span, and their points."""
    if not assessments or sex not in ("male", "female"):
        return None
    measure = assessments[0].measure
    ages = [a.age_years for a in assessments]
    low_age, high_age = _age_window(min(ages), max(ages))
    curves = centile_curves(reference, measure, sex, low_age, high_age)
    values = [a.value for a in assessments] + [v for _, curve in curves for _, v in curve]
    low_value, high_value = _nice_range(min(values), max(values))

    left, right, top, bottom = 40, 30, 16, 28  # room for the unit above and the centile names at the right
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(age: float) -> float:
        return round(left + (age - low_age) / (high_age - low_age) * plot_w, 1)

    def y(value: float) -> float:
        return round(top + (high_value - value) / (high_value - low_value) * plot_h, 1)

    in_months = high_age <= 2.0
    x_ticks = [
        (x(a), f"{a * 12:.0f}" if in_months else f"{a:.0f}") for a in _ticks(low_age, high_age, in_months)
    ]
    y_ticks = [(y(v), f"{v:g}") for v in _value_ticks(low_value, high_value)]
    lines = [(c, " ".join(f"{x(a)},{y(v)}" for a, v in curve)) for c, curve in curves]
    points = [(x(a.age_years), y(a.value), a) for a in assessments]
    return Chart(measure, width, height, x_ticks, y_ticks, lines, points, "months" if in_months else "years")


Curve = tuple[tuple[float, float], ...]  # (age in years, value in the reference unit)
CURVE_SAMPLES = 30


# Bounded: 4 measures x 2 sexes x the age windows _age_window makes (whole years up to 20) stay under it.
@lru_cache(maxsize=1024)
def centile_curves(
    reference: str, measure: Measure, sex: str, low_age: float, high_age: float
) -> tuple[tuple[int, Curve], ...]:
    """The centile lines over an age window, sampled at CURVE_SAMPLES + 1 ages (computed once, then kept)."""
    from rcpchgrowth import measurement_from_sds

    samples = [low_age + (high_age - low_age) * i / CURVE_SAMPLES for i in range(CURVE_SAMPLES + 1)]
    curves: list[tuple[int, Curve]] = []
    for centile, z in CENTILE_LINES:
        curve = []
        for age in samples:
            try:
                value = measurement_from_sds(reference, z, measure.value, sex, age)
            except (LookupError, ValueError, TypeError):
                continue
            if value is not None and math.isfinite(value):
                curve.append((age, float(value)))
        if len(curve) > 1:
            curves.append((centile, tuple(curve)))
    return tuple(curves)


def _age_window(youngest: float, oldest: float) -> tuple[float, float]:
    if oldest <= 2.0:
        return 0.0, 2.0
    low = max(0.0, math.floor(youngest) - 1)
    high = min(GROWTH_CHART_MAX_AGE, max(math.ceil(oldest) + 1, low + 4))
    return float(low), float(high)


def _ticks(low: float, high: float, in_months: bool) -> list[float]:
    if in_months:
        return [m / 12 for m in range(0, 25, 6)]
    step = 1 if high - low <= 6 else 2 if high - low <= 12 else 4
    return [float(a) for a in range(int(low), int(high) + 1, step)]


def _nice_range(low: float, high: float) -> tuple[float, float]:
    step = _nice_step(high - low)
    return math.floor(low / step) * step, math.ceil(high / step) * step


def _nice_step(span: float) -> float:
    raw = max(span, 1e-6) / 5
    magnitude: float = 10.0 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)


def _value_ticks(low: float, high: float) -> list[float]:
    step = _nice_step(high - low)
    count = round((high - low) / step)
    return [round(low + i * step, 6) for i in range(count + 1)]
