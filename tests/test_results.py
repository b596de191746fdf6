"""Result flags in words, and release rules (immediate by default, optional hold per category)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from portal.services.errors import Refused
from portal.services.results import Flag, clear_hold, flag, holds, is_released, set_hold

ISSUED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "low", "high", "interpretation", "expected"),
    [
        (5.0, 4.0, 6.0, None, Flag.NORMAL),
        (7.0, 4.0, 6.0, None, Flag.HIGH),
        (3.0, 4.0, 6.0, None, Flag.LOW),
        (6.0, 4.0, 6.0, None, Flag.NORMAL),  # the limits are in range
        (7.0, None, 6.0, None, Flag.HIGH),
        (5.0, 4.0, 6.0, "HH", Flag.CRITICAL_HIGH),  # the EHR's interpretation wins
        (None, None, None, "POS", Flag.ABNORMAL),
        (5.0, None, None, None, None),  # no range, no interpretation: no flag
    ],
)
def test_flag(value, low, high, interpretation, expected) -> None:
    assert flag(value, low, high, interpretation) is expected


def test_results_are_released_at_once_by_default(session) -> None:
    assert is_released(ISSUED, "laboratory", holds(session), now=ISSUED)


def test_a_held_category_appears_when_the_hold_runs_out(session) -> None:
    set_hold(
        session,
        category="pathology",
        hold_hours=72,
        reason="Clinician discusses biopsy results first.",
        set_by_person_id=None,
    )

    current = holds(session)

    assert not is_released(ISSUED, "pathology", current, now=ISSUED + timedelta(hours=71))
    assert is_released(ISSUED, "pathology", current, now=ISSUED + timedelta(hours=72))
    assert is_released(ISSUED, "laboratory", current, now=ISSUED)


@pytest.mark.parametrize(
    ("hours", "reason", "code"),
    [
        (0, "A proper reason here.", "hold_hours_out_of_range"),
        (24 * 15, "A proper reason here.", "hold_hours_out_of_range"),
        (24, "because", "hold_reason_missing"),
    ],
)
def test_a_hold_needs_a_reason_and_a_short_length(session, hours, reason, code) -> None:
    with pytest.raises(Refused) as refused:
        set_hold(session, category="pathology", hold_hours=hours, reason=reason, set_by_person_id=None)

    assert refused.value.code == code
    assert holds(session) == {}


def test_clearing_a_hold_releases_the_category(session) -> None:
    set_hold(
        session,
        category="pathology",
        hold_hours=72,
        reason="Clinician discusses biopsy results first.",
        set_by_person_id=None,
    )

    assert clear_hold(session, "pathology")
    assert is_released(ISSUED, "pathology", holds(session), now=ISSUED)
