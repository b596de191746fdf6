"""The forecaster's date arithmetic, written out for speed, against dateutil's relativedelta."""

from __future__ import annotations

import random
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from portal.forecast.dates import Duration, add_duration


def reference(start: date, duration: Duration) -> date:
    """Years and months by relativedelta, a day the month lacks rolled on to the next month (CDSi)."""
    shifted = start + relativedelta(years=duration.years, months=duration.months)
    if shifted.day != start.day:
        shifted += relativedelta(days=1)
    return shifted + timedelta(days=duration.days)


def test_dates_add_as_relativedelta_does_with_the_impossible_day_rolled_on() -> None:
    rng = random.Random(20260601)
    starts = [date(2023, 12, 31), date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 30), date(2024, 12, 31)]
    starts += [date(1950, 1, 1) + timedelta(days=rng.randrange(80 * 365)) for _ in range(200)]
    durations = [Duration(0, 0, 0), Duration(1, 0, 0), Duration(0, 1, -4), Duration(0, -1, 0)]
    durations += [Duration(4, 11, 7), Duration(-2, -13, 28), Duration(0, 2, 0), Duration(18, 0, -4)]
    for start in starts:
        for duration in durations:
            assert add_duration(start, duration) == reference(start, duration), (start, duration)
