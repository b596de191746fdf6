"""Growth centiles (rcpchgrowth) and the inline SVG chart with its table alternative."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from rcpchgrowth import measurement_from_sds

from portal.services.growth import Band, Measure, assess, centile_curves, chart
from portal.templating import make_templates

BORN = date(2024, 1, 15)


def on_age(years: float) -> date:
    return BORN + timedelta(days=round(years * 365.25))


def median(measure: Measure, years: float, sex: str = "female") -> float:
    return measurement_from_sds("cdc", 0.0, measure.value, sex, years)


def test_a_median_measurement_is_on_the_50th_centile() -> None:
    taken_on = on_age(1.5)
    value = median(Measure.WEIGHT, (taken_on - BORN).days / 365.25)

    result = assess(Measure.WEIGHT, value, sex="female", birth_date=BORN, taken_on=taken_on)

    assert result.centile == pytest.approx(50, abs=0.5)
    assert result.band is Band.WITHIN


def test_a_small_child_is_below_the_5th_centile_and_flagged_low() -> None:
    value = measurement_from_sds("cdc", -2.0, "height", "male", 3.0)

    result = assess(Measure.HEIGHT, value, sex="male", birth_date=BORN, taken_on=on_age(3.0))

    assert result.centile is not None and result.centile < 5
    assert result.band is Band.LOW


def test_a_value_beyond_4_sds_is_flagged_implausible_but_kept() -> None:
    result = assess(Measure.WEIGHT, 25.0, sex="female", birth_date=BORN, taken_on=on_age(0.5))

    assert result.band is Band.IMPLAUSIBLE
    assert result.sds is not None and result.sds > 4
    assert result.value == 25.0


def test_bmi_under_two_has_no_reference() -> None:
    result = assess(Measure.BMI, 17.0, sex="female", birth_date=BORN, taken_on=on_age(1.0))

    assert result.band is Band.NO_REFERENCE and result.centile is None


def test_adults_get_no_growth_centile() -> None:
    result = assess(Measure.HEIGHT, 170.0, sex="male", birth_date=date(2000, 1, 1), taken_on=date(2026, 1, 1))

    assert result.band is Band.NO_REFERENCE


def infant_weights() -> list:
    ages = [0.1, 0.3, 0.6, 0.9, 1.2]
    return [
        assess(
            Measure.WEIGHT,
            median(Measure.WEIGHT, a) * 1.05,
            sex="female",
            birth_date=BORN,
            taken_on=on_age(a),
        )
        for a in ages
    ]


def test_chart_places_every_point_inside_the_plot_and_draws_seven_centile_lines() -> None:
    result = chart(infant_weights(), sex="female")

    assert result is not None
    assert [c for c, _ in result.lines] == [5, 10, 25, 50, 75, 90, 95]
    assert result.age_label == "months"
    for x, y, _ in result.points:
        assert 40 <= x <= result.width - 8 and 8 <= y <= result.height - 28


def test_chart_points_rise_with_a_growing_child() -> None:
    result = chart(infant_weights(), sex="female")

    ys = [y for _, y, _ in result.points]
    assert ys == sorted(ys, reverse=True)  # SVG y grows downwards


def test_chart_template_draws_svg_and_an_accessible_table() -> None:
    weights = infant_weights()
    weights.append(assess(Measure.WEIGHT, 25.0, sex="female", birth_date=BORN, taken_on=on_age(1.4)))
    template = make_templates().env.get_template("growth/_chart.html")

    html = template.render(chart=chart(weights, sex="female"), title="Weight")

    assert 'role="img"' in html and "<desc" in html
    assert html.count("<polyline") == 7
    assert html.count("<tr>") == len(weights) + 1
    assert "Check this measurement" in html and "<rect" in html  # flagged by shape and words, not colour
    assert re.search(r"Centile \d+: bigger than \d+ in 100 children\.", html)
    assert "style=" not in html


def test_centile_curves_are_computed_once_per_sex_measure_and_age_window() -> None:
    centile_curves.cache_clear()

    chart(infant_weights(), sex="female")
    chart(infant_weights(), sex="female")
    chart(infant_weights()[:3], sex="female")  # younger points, same 0-2 year window

    info = centile_curves.cache_info()
    assert (info.misses, info.hits) == (1, 2)


def test_boys_and_girls_get_their_own_centile_curves() -> None:
    centile_curves.cache_clear()

    girls = centile_curves("cdc", Measure.WEIGHT, "female", 0.0, 2.0)
    boys = centile_curves("cdc", Measure.WEIGHT, "male", 0.0, 2.0)

    assert centile_curves.cache_info().misses == 2
    girls_median, boys_median = dict(girls)[50], dict(boys)[50]
    assert girls_median[-1][1] == pytest.approx(median(Measure.WEIGHT, 2.0, "female"))
    assert boys_median[-1][1] == pytest.approx(median(Measure.WEIGHT, 2.0, "male"))
    assert boys_median[-1][1] > girls_median[-1][1]  # a 2-year-old boy's median weight is higher
