"""Test results: a flag in words for each value, and the release rules.

Release follows the 21st Century Cures Act default: a result is shown as soon as it is issued. A clinic may
hold one category (say, pathology) for a number of hours, with a recorded reason; a held result appears
on its own when the hold runs out.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session, select

from portal.models.results import ResultHold
from portal.services.errors import Refused

MAX_HOLD_HOURS = 24 * 14


class Flag(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    LOW = "low"
    CRITICAL_HIGH = "critical_high"
    CRITICAL_LOW = "critical_low"
    ABNORMAL = "abnormal"


# HL7 v3 ObservationInterpretation codes.
INTERPRETATION_FLAGS = {
    "N": Flag.NORMAL, "H": Flag.HIGH, "L": Flag.LOW, "HH": Flag.CRITICAL_HIGH, "LL": Flag.CRITICAL_LOW,
    "HU": Flag.CRITICAL_HIGH, "LU": Flag.CRITICAL_LOW, "A": Flag.ABNORMAL, "AA": Flag.ABNORMAL,
    "POS": Flag.ABNORMAL, "DET": Flag.ABNORMAL, "NEG": Flag.NORMAL, "ND": Flag.NORMAL,
}  # fmt: skip


def flag(
    value: float | None, low: float | None, high: float | None, interpretation: str | None = None
) -> Flag | None:
    """The EHR's own interpretation when it sent one, else the value against its reference range."""
    if interpretation and interpretation.upper() in INTERPRETATION_FLAGS:
        return INTERPRETATION_FLAGS[interpretation.upper()]
    if value is None or (low is None and high is None):
        return None
    if high is not None and value > high:
        return Flag.HIGH
    if low is not None and value < low:
        return Flag.LOW
    return Flag.NORMAL


def holds(session: Session) -> dict[str, ResultHold]:
    return {hold.category: hold for hold in session.exec(select(ResultHold))}


def released_at(
    issued: datetime | None, category: str | None, holds_by_category: dict[str, ResultHold]
) -> datetime | None:
    """When a result becomes visible to the patient: at once unless its category is held."""
    if issued is None:
        return None
    hold = holds_by_category.get(category or "")
    return issued + timedelta(hours=hold.hold_hours) if hold else issued


def is_released(
    issued: datetime | None, category: str | None, holds_by_category: dict[str, ResultHold], *, now: datetime
) -> bool:
    """A result with no issue time counts as released: the EHR sent it as final, with nothing to wait for."""
    when = released_at(issued, category, holds_by_category)
    return when is None or when <= now


def set_hold(
    session: Session, *, category: str, hold_hours: int, reason: str, set_by_person_id: int | None
) -> ResultHold:
    """Hold a category (or change its hold). A reason is required; holds are short by design.

    Refused (before anything is written) for a missing category or reason, or a length out of range."""
    category = category.strip()
    reason = reason.strip()
    if not category:
        raise Refused("hold_category_missing")
    if not 1 <= hold_hours <= MAX_HOLD_HOURS:
        raise Refused("hold_hours_out_of_range", most=MAX_HOLD_HOURS)
    if len(reason) < 10:
        raise Refused("hold_reason_missing")
    hold = session.exec(select(ResultHold).where(ResultHold.category == category)).first() or ResultHold(
        category=category, hold_hours=hold_hours, reason=reason
    )
    hold.hold_hours, hold.reason, hold.set_by_person_id = hold_hours, reason, set_by_person_id
    session.add(hold)
    session.flush()
    return hold


def clear_hold(session: Session, category: str) -> bool:
    hold = session.exec(select(ResultHold).where(ResultHold.category == category)).first()
    if hold is None:
        return False
    session.delete(hold)
    session.flush()
    return True
