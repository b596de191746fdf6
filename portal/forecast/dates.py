"""CDSi date arithmetic: durations such as "4 months - 4 days" added to a date.

The CDSi logic specification adds years first, then months, then weeks and days; a date that does not exist
after adding years or months (31 April, 29 February in a common year) moves forward to the first day of the
next month.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta

_TERM = re.compile(r"([+-]?)\s*(\d+)\s*(year|month|week|day)s?", re.IGNORECASE)

EARLIEST_DATE = date(1900, 1, 1)  # the specification's default for a missing lower bound
LATEST_DATE = date(2999, 12, 31)  # and for a missing upper bound


@dataclass(frozen=True)
class Duration:
    """A calendar offset as the supporting data writes it: years, months and days (weeks count as 7 days)."""

    years: int = 0
    months: int = 0
    days: int = 0

    def __str__(self) -> str:
        parts = [(self.years, "years"), (self.months, "months"), (self.days, "days")]
        return " ".join(f"{value:+d} {unit}" for value, unit in parts if value) or "0 days"


def parse_duration(text: str | None) -> Duration | None:
    """Read "6 months + 4 weeks", "18 years - 4 days"... None for an empty field."""
    if text is None or not text.strip():
        return None
    years = months = days = 0
    matched = False
    for sign, number, unit in _TERM.findall(text):
        matched = True
        value = -int(number) if sign == "-" else int(number)
        unit = unit.lower()
        if unit == "year":
            years += value
        elif unit == "month":
            months += value
        elif unit == "week":
            days += 7 * value
        else:
            days += value
    if not matched:
        raise ValueError(f"not a CDSi duration: {text!r}")
    return Duration(years, months, days)


def add_duration(start: date, duration: Duration) -> date:
    """`start` plus `duration` by the CDSi rules: years, months, then days; an impossible day rolls on."""
    # Plain arithmetic: the forecaster adds thousands of durations per record (dateutil's relativedelta
    # took a third of its time).
    months = start.month - 1 + duration.months + 12 * duration.years
    year, month = start.year + months // 12, months % 12 + 1
    if start.day > calendar.monthrange(year, month)[1]:
        shifted = date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)
    else:
        shifted = date(year, month, start.day)
    return shifted + timedelta(days=duration.days)


def offset(start: date, duration: Duration | None, default: date) -> date:
    """`start` plus `duration`, or `default` when the supporting data leaves the field empty."""
    return default if duration is None else add_duration(start, duration)


def parse_cdsi_date(text: str | None) -> date | None:
    """Read the supporting data's dates, YYYYMMDD or MM/DD/YYYY (empty: None)."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if "/" in value:
        month, day, year = (int(part) for part in value.split("/"))
        return date(year, month, day)
    value = value.replace("-", "")
    return date(int(value[0:4]), int(value[4:6]), int(value[6:8]))
