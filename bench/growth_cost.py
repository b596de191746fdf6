"""Print what the growth charts of one child cost a view: centile curves computed afresh against kept.

A growth page draws one chart per measure (weight, height, head circumference, BMI). Before the curves were
kept, every view computed them again (rcpchgrowth's table scan, the "cold" figure below); now the first
view of a (sex, measure, age window) computes them and later views reuse them ("warm").

    PYTHONPATH=. .venv/bin/python bench/growth_cost.py [--views 20]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import date, timedelta

from portal.services import growth
from portal.services.growth import Measure

BORN = date(2021, 3, 1)
# A three-year-old's well-child visits: (age in years, weight kg, height cm, head cm, BMI)
VISITS = [
    (0.1, 4.4, 55.0, 38.0, None),
    (0.5, 7.6, 67.0, 43.0, None),
    (1.0, 9.5, 75.0, 46.0, None),
    (1.5, 10.9, 81.0, 47.0, None),
    (2.0, 12.2, 87.0, 48.5, 16.1),
    (3.0, 14.3, 96.0, None, 15.5),
]
COLUMNS = {Measure.WEIGHT: 1, Measure.HEIGHT: 2, Measure.HEAD: 3, Measure.BMI: 4}


def assessments(sex: str) -> dict[Measure, list[growth.Assessment]]:
    by_measure: dict[Measure, list[growth.Assessment]] = {}
    for measure, column in COLUMNS.items():
        by_measure[measure] = [
            growth.assess(
                measure,
                float(visit[column]),
                sex=sex,
                birth_date=BORN,
                taken_on=BORN + timedelta(days=round(visit[0] * 365.25)),
            )
            for visit in VISITS
            if visit[column] is not None
        ]
    return by_measure


def one_view(by_measure: dict[Measure, list[growth.Assessment]], sex: str) -> float:
    started = time.perf_counter()
    for series in by_measure.values():
        growth.chart(series, sex=sex)
    return (time.perf_counter() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--views", type=int, default=20)
    args = parser.parse_args()

    for sex in ("female", "male"):
        by_measure = assessments(sex)
        cold = []
        for _ in range(args.views):
            growth.centile_curves.cache_clear()
            cold.append(one_view(by_measure, sex))
        warm = [one_view(by_measure, sex) for _ in range(args.views)]
        print(
            f"{sex} child, 4 charts a view, {args.views} views: curves computed every view "
            f"median {statistics.median(cold):.1f} ms; curves kept median {statistics.median(warm):.2f} ms "
            f"({statistics.median(cold) / statistics.median(warm):.0f}x less)"
        )
    print(f"curves kept: {growth.centile_curves.cache_info()}")


if __name__ == "__main__":
    main()
