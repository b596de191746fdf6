"""The immunization forecaster (CDSi): date arithmetic, dose evaluation, two children worked by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from portal.forecast import DoseGiven, DoseStatus, ForecastStatus, Patient, Reason, forecast
from portal.forecast.dates import Duration, add_duration, parse_duration

HEPB_PEDS, DTAP, MMR, VARICELLA = "08", "20", "03", "21"


def dose_status(
    result_group: str, patient: Patient, doses: list[DoseGiven], on: date, index: int
) -> DoseStatus:
    outcome = forecast(patient, doses, on, groups=(result_group,))
    evaluation = outcome.vaccine_groups[result_group].dose_status(index)
    assert evaluation is not None
    return evaluation.status


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("4 weeks", Duration(days=28)),
        ("18 years - 4 days", Duration(years=18, days=-4)),
        ("3 months + 4 weeks", Duration(months=3, days=28)),
        ("1 year - 2 months", Duration(years=1, months=-2)),
        ("", None),
    ],
)
def test_durations_read_as_the_supporting_data_writes_them(text: str, expected: Duration | None) -> None:
    assert parse_duration(text) == expected


def test_duration_without_units_is_refused() -> None:
    with pytest.raises(ValueError, match="not a CDSi duration"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("start", "text", "expected"),
    [
        (date(2015, 3, 31), "6 months", date(2015, 10, 1)),  # 31 September rolls to 1 October
        (date(2024, 1, 31), "1 month", date(2024, 3, 1)),
        (date(2024, 2, 29), "1 year", date(2025, 3, 1)),  # no 29 February in 2025
        (date(2025, 1, 15), "4 months - 4 days", date(2025, 5, 11)),
        (date(2025, 1, 15), "6 weeks", date(2025, 2, 26)),
        (date(2025, 10, 31), "4 months - 4 days", date(2026, 2, 25)),  # 31 Feb -> 1 Mar, then back 4 days
    ],
)
def test_dates_add_years_then_months_then_days(start: date, text: str, expected: date) -> None:
    duration = parse_duration(text)
    assert duration is not None
    assert add_duration(start, duration) == expected


def test_age_is_checked_against_the_absolute_minimum_with_four_days_grace() -> None:
    child = Patient(date(2025, 1, 1), "F")
    six_weeks = date(2025, 2, 12)
    on = date(2025, 4, 1)
    too_young = [DoseGiven(six_weeks - timedelta(days=5), DTAP)]
    in_grace = [DoseGiven(six_weeks - timedelta(days=4), DTAP)]
    assert dose_status("DTaP/Tdap/Td", child, too_young, on, 0) is DoseStatus.NOT_VALID
    assert dose_status("DTaP/Tdap/Td", child, in_grace, on, 0) is DoseStatus.VALID


def test_interval_below_the_absolute_minimum_is_too_soon() -> None:
    child = Patient(date(2025, 1, 1), "M")
    first = date(2025, 1, 2)
    on = date(2025, 6, 1)
    too_soon = [DoseGiven(first, HEPB_PEDS), DoseGiven(first + timedelta(days=23), HEPB_PEDS)]
    in_grace = [DoseGiven(first, HEPB_PEDS), DoseGiven(first + timedelta(days=24), HEPB_PEDS)]
    outcome = forecast(child, too_soon, on, groups=("HepB",))
    second = outcome.vaccine_groups["HepB"].dose_status(1)
    assert second is not None
    assert (second.status, second.reason) == (DoseStatus.NOT_VALID, Reason.TOO_SOON)
    assert dose_status("HepB", child, in_grace, on, 1) is DoseStatus.VALID


def test_live_vaccines_too_close_together_conflict() -> None:
    child = Patient(date(2024, 1, 10), "F")
    mmr_on = date(2025, 1, 10)
    on = date(2025, 6, 1)
    close = [DoseGiven(mmr_on, MMR), DoseGiven(mmr_on + timedelta(days=20), VARICELLA)]
    apart = [DoseGiven(mmr_on, MMR), DoseGiven(mmr_on + timedelta(days=28), VARICELLA)]
    outcome = forecast(child, close, on, groups=("Varicella",))
    varicella = outcome.vaccine_groups["Varicella"].dose_status(1)
    assert varicella is not None
    assert (varicella.status, varicella.reason) == (DoseStatus.NOT_VALID, Reason.LIVE_VIRUS)
    assert dose_status("Varicella", child, apart, on, 1) is DoseStatus.VALID
    # the same two vaccines on the same day do not conflict
    same_day = [DoseGiven(mmr_on, MMR), DoseGiven(mmr_on, VARICELLA)]
    assert dose_status("Varicella", child, same_day, on, 1) is DoseStatus.VALID


def test_infant_with_birth_dose_and_first_dtap() -> None:
    """A 4-month-old girl: HepB at birth and at 1 month, DTaP at 2 months.

    By the schedule: HepB dose 3 no earlier than 24 weeks of age (2 July 2025), recommended at 6 months
    (15 July); DTaP dose 2 four weeks after dose 1 at the earliest (12 April), recommended at 4 months
    (15 May); MMR dose 1 at 12 months (15 January 2026).
    """
    girl = Patient(date(2025, 1, 15), "F")
    doses = [
        DoseGiven(date(2025, 1, 15), HEPB_PEDS),
        DoseGiven(date(2025, 2, 15), HEPB_PEDS),
        DoseGiven(date(2025, 3, 15), DTAP),
    ]
    outcome = forecast(girl, doses, date(2025, 5, 20))
    hepb = outcome.vaccine_groups["HepB"].forecast
    assert (hepb.status, hepb.dose_number) == (ForecastStatus.NOT_COMPLETE, 3)
    assert (hepb.earliest, hepb.recommended) == (date(2025, 7, 2), date(2025, 7, 15))
    dtap = outcome.vaccine_groups["DTaP/Tdap/Td"].forecast
    assert (dtap.dose_number, dtap.earliest, dtap.recommended) == (2, date(2025, 4, 12), date(2025, 5, 15))
    assert dtap.past_due is not None and dtap.past_due > dtap.recommended
    mmr = outcome.vaccine_groups["MMR"].forecast
    assert (mmr.dose_number, mmr.earliest, mmr.recommended) == (1, date(2026, 1, 15), date(2026, 1, 15))
    assert outcome.vaccine_groups["HPV"].forecast.earliest == date(2034, 1, 15)  # from age 9


def test_five_year_old_due_for_second_mmr_then_complete() -> None:
    """A boy who had MMR and varicella at 12 months: the second doses were due from age 4 (1 March 2024).

    The earliest a second MMR counts is 13 months of age (1 April 2021), which is also past the 4 weeks
    after the first.
    """
    boy = Patient(date(2020, 3, 1), "M")
    first_doses = [DoseGiven(date(2021, 3, 1), MMR), DoseGiven(date(2021, 3, 1), VARICELLA)]
    outcome = forecast(boy, first_doses, date(2025, 6, 1), groups=("MMR", "Varicella"))
    mmr = outcome.vaccine_groups["MMR"].forecast
    assert (mmr.status, mmr.dose_number) == (ForecastStatus.NOT_COMPLETE, 2)
    assert (mmr.earliest, mmr.recommended) == (date(2021, 4, 1), date(2024, 3, 1))
    varicella = outcome.vaccine_groups["Varicella"].forecast
    assert (varicella.dose_number, varicella.recommended) == (2, date(2024, 3, 1))
    second_doses = [*first_doses, DoseGiven(date(2025, 6, 1), MMR), DoseGiven(date(2025, 6, 1), VARICELLA)]
    done = forecast(boy, second_doses, date(2025, 6, 2), groups=("MMR", "Varicella"))
    assert done.vaccine_groups["MMR"].forecast.status is ForecastStatus.COMPLETE
    assert done.vaccine_groups["Varicella"].forecast.status is ForecastStatus.COMPLETE


def test_unknown_vaccine_and_future_dose_are_not_counted_with_their_reason() -> None:
    child = Patient(date(2025, 1, 15), "F")
    on = date(2025, 5, 20)
    doses = [
        DoseGiven(date(2025, 1, 15), HEPB_PEDS),
        DoseGiven(date(2025, 2, 15), "9999"),
        DoseGiven(date(2025, 9, 1), HEPB_PEDS),
    ]
    outcome = forecast(child, doses, on, groups=("HepB",))
    assert outcome.not_evaluated == ((1, Reason.UNKNOWN_VACCINE), (2, Reason.AFTER_ASSESSMENT))
    hepb = outcome.vaccine_groups["HepB"]
    assert hepb.dose_status(1) is None and hepb.dose_status(2) is None
    assert hepb.forecast.dose_number == 2  # only the birth dose counts


def test_dose_dated_before_birth_is_too_young() -> None:
    child = Patient(date(2025, 1, 15), "M")
    outcome = forecast(child, [DoseGiven(date(2025, 1, 1), HEPB_PEDS)], date(2025, 3, 1), groups=("HepB",))
    evaluation = outcome.vaccine_groups["HepB"].dose_status(0)
    assert evaluation is not None
    assert (evaluation.status, evaluation.reason) == (DoseStatus.NOT_VALID, Reason.TOO_YOUNG)
    assert outcome.vaccine_groups["HepB"].forecast.dose_number == 1
