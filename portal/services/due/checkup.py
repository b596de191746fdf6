"""When the next check-up is due: from the last well-child or yearly visit in the record and the age.

The visits that count are coded as preventive check-ups: SNOMED CT 185349003 "Encounter for check up",
410620009 "Well child visit", 162673000 "General examination of patient", 86013001 "Periodic reevaluation
and management of healthy individual", and the CPT preventive medicine visits 99381-99387 (new patient)
and 99391-99397 (established patient). How often: the AAP's Bright Futures periodicity schedule, in
steps (visits at 1, 2, 4 and 6 months; then every 3 months to 2 years; every 6 months to 3 years; then
once a year, as for adults).
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta, tzinfo

from sqlalchemy import ColumnElement, and_, bindparam, literal_column, or_, select
from sqlmodel import Session, col

from portal.models.base import UTCDateTime
from portal.models.records import Encounter
from portal.services.access import PatientScope
from portal.services.due.vaccines import SOON_DAYS, DueItem, Timing
from portal.services.due.words import CHECKUP_NAMES
from portal.services.visibility import Prepared

SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
CHECKUP_CODES: frozenset[tuple[str, str]] = frozenset(
    {(SNOMED, code) for code in ("185349003", "410620009", "162673000", "86013001")}
    | {(CPT, str(code)) for code in (*range(99381, 99388), *range(99391, 99398))}
)
CHECKUP_KEY = "checkup"


def _is_checkup() -> ColumnElement[bool]:
    """The check-up codes, written into the SQL once (they are constants): bound parameters would be
    expanded again on every execution."""
    by_system: dict[str, list[str]] = {}
    for system, code in sorted(CHECKUP_CODES):
        by_system.setdefault(system, []).append(code)
    return or_(
        *(
            and_(
                col(Encounter.code_system) == system,
                col(Encounter.code).in_([literal_column(f"'{code}'") for code in codes]),
            )
            for system, codes in by_system.items()
        )
    )


# Built once (building it on every request cost more than running it): the newest check-up, read along
# the (patient, start) index from the newest visit back, so a long record costs what a short one does.
_LATEST_CHECKUP = Prepared(
    lambda shape: (
        select(col(Encounter.start_at))
        .where(
            shape.shown(Encounter),
            _is_checkup(),
            col(Encounter.start_at) <= bindparam("now", type_=UTCDateTime),
            col(Encounter.status).is_(None)
            | and_(col(Encounter.status) != "cancelled", col(Encounter.status) != "entered-in-error"),
        )
        .order_by(col(Encounter.start_at).desc())
        .limit(1)
    )
)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_between(birth: date, day: date) -> int:
    return (day.year - birth.year) * 12 + day.month - birth.month - (day.day < birth.day)


def months_until_next(age_in_months: int) -> int:
    """Bright Futures, in steps: the gap after a check-up at this age."""
    if age_in_months < 6:
        return 2
    if age_in_months < 24:
        return 3
    if age_in_months < 36:
        return 6
    return 12


def last_checkup(session: Session, scope: PatientScope, zone: tzinfo) -> date | None:
    """The day of the latest check-up visit this scope sees that has already happened."""
    statement, values = _LATEST_CHECKUP(session, scope)
    latest = session.scalars(statement, {**values, "now": scope.now}).first()
    return latest.astimezone(zone).date() if latest is not None else None


def checkup_item(birth_date: date, last: date | None, today: date) -> DueItem:
    """Due now when there is none on record or its time has come; due soon within two months."""
    name = CHECKUP_NAMES["well-child" if months_between(birth_date, today) < 36 else "yearly"]
    if last is None:
        return DueItem(CHECKUP_KEY, name, Timing.DUE_NOW)
    next_on = add_months(last, months_until_next(months_between(birth_date, last)))
    if next_on <= today:
        return DueItem(f"{CHECKUP_KEY}:{next_on.isoformat()}", name, Timing.DUE_NOW)
    if next_on <= today + timedelta(days=SOON_DAYS):
        return DueItem(CHECKUP_KEY, name, Timing.DUE_SOON, due_on=next_on)
    return DueItem(CHECKUP_KEY, name, Timing.UP_TO_DATE, due_on=next_on)
