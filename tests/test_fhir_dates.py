"""Shifting a patient's dates for the demo, and the demo import that uses it."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from portal import demo
from portal.fhir import dates
from portal.models import Observation, Patient
from tests.fhir_bundles import SAMPLE_BUNDLE


def test_full_dates_datetimes_and_instants_move_by_whole_days() -> None:
    resource = {
        "birthDate": "2010-02-27",
        "effectiveDateTime": "2019-12-31T23:30:00+05:00",
        "meta": {"lastUpdated": "2020-01-01T00:00:00.123Z"},
        "period": {"start": "2020-02-28T10:00:00Z"},
    }

    shifted = dates.shift(resource, 2)

    assert shifted == {
        "birthDate": "2010-03-01",
        "effectiveDateTime": "2020-01-02T23:30:00+05:00",
        "meta": {"lastUpdated": "2020-01-03T00:00:00.123Z"},
        "period": {"start": "2020-03-01T10:00:00Z"},
    }


def test_partial_dates_ids_codes_and_text_do_not_move() -> None:
    resource = {
        "id": "2020-01-01",
        "code": {"coding": [{"code": "2020-01-01", "system": "urn:x"}]},
        "identifier": [{"value": "2020-01-01"}],
        "onsetString": "since 2020-01-01",
        "recordedDate": "2020",
        "abatementDateTime": "2020-05",
        "subject": {"reference": "Patient/2020-01-01"},
    }

    assert dates.shift(resource, 30) == resource


def test_shift_returns_a_copy() -> None:
    resource = {"birthDate": "2010-01-01"}

    dates.shift(resource, 1)

    assert resource == {"birthDate": "2010-01-01"}


def test_days_to_recent_brings_the_newest_date_to_three_weeks_before_today() -> None:
    resources = [{"birthDate": "2001-05-05"}, {"effectiveDateTime": "2020-06-30T08:00:00Z"}]
    today = date(2026, 11, 21)

    days = dates.days_to_recent(resources, today)

    assert date(2020, 6, 30) + timedelta(days=days) == today - timedelta(weeks=3)


def test_shift_to_recent_moves_everything_by_the_same_amount() -> None:
    resources = [{"birthDate": "2019-01-10"}, {"effectiveDateTime": "2020-01-10T08:00:00Z"}]

    dates.shift_to_recent(resources, date(2026, 11, 21))

    born, seen = (
        date.fromisoformat(resources[0]["birthDate"]),
        date.fromisoformat(resources[1]["effectiveDateTime"][:10]),
    )
    assert (seen - born).days == 365
    assert seen == date(2026, 10, 31)


def test_no_dates_means_no_shift() -> None:
    assert dates.days_to_recent([{"id": "x"}], date(2026, 1, 1)) == 0


def test_demo_imports_the_sample_infant_with_recent_dates(app, session, monkeypatch) -> None:
    monkeypatch.setattr(demo, "SAMPLE_SOURCES", [SAMPLE_BUNDLE])
    today = date(2031, 6, 15)

    line = demo.import_sample_records(app.state.engine, today=today)

    assert "1 new or updated patients" in line
    newest = session.scalars(select(func.max(Observation.effective_at))).one()
    assert newest.date() == today - timedelta(weeks=3)
    patient = session.scalars(select(Patient)).one()
    assert 0 < (today - patient.birth_date).days < 365  # still an infant on the day of the demo
