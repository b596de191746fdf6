"""Open times, computed from the clinic's calendar: weekly hours (dateutil.rrule, in the clinic's time
zone, so 09:00 stays 09:00 on both sides of a daylight-saving change), minus blocks (holidays, days off,
the front desk's blocks), minus time already held, plus the free slots the EHR sent (busy ones never).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import WEEKLY, rrule
from sqlmodel import Session, col, select

from portal.models.scheduling import (
    ClinicLocation,
    ImportedSlot,
    Provider,
    ScheduleBlock,
    SlotHold,
    VisitType,
    WeeklyHours,
)

MAX_DAYS = 120  # no page or query looks further ahead than this


@dataclass(frozen=True)
class OpenTime:
    """A time a visit of one type can start: with whom, where, from when to when (UTC)."""

    provider: Provider
    location: ClinicLocation | None
    start_at: datetime
    end_at: datetime
    unit_minutes: int  # the grid unit the hold rows use

    @property
    def key(self) -> str:
        """What a time button posts: the provider and the start, nothing about the patient."""
        return f"{self.provider.public_id}|{self.start_at.strftime('%Y%m%dT%H%MZ')}"

    def units(self) -> list[datetime]:
        """The starts of the grid units this visit covers (each becomes one unique hold)."""
        step = timedelta(minutes=self.unit_minutes)
        count = max(1, -(-int((self.end_at - self.start_at).total_seconds()) // int(step.total_seconds())))
        return [self.start_at + step * i for i in range(count)]


def parse_key(key: str) -> tuple[str, datetime] | None:
    """The provider's public id and the start from a time button's value; None when malformed."""
    provider, _, start = key.partition("|")
    try:
        moment = datetime.strptime(start, "%Y%m%dT%H%MZ").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (provider, moment) if provider and len(provider) <= 32 else None


def _clock(value: str) -> time:
    hours, _, minutes = value.partition(":")
    return time(int(hours), int(minutes))


def local_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The clinic's day as UTC instants: midnight to midnight, 23 or 25 hours long on a change day."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def template_times(
    session: Session, *, first: date, last: date, tz: ZoneInfo, minutes: int, provider_id: int | None = None
) -> list[OpenTime]:
    """Every start the weekly hours give for a visit of `minutes`, first to last day inclusive."""
    query = select(WeeklyHours)
    if provider_id is not None:
        query = query.where(WeeklyHours.provider_id == provider_id)
    hours = list(session.exec(query))
    providers = {p.id: p for p in session.exec(select(Provider))}
    locations = {loc.id: loc for loc in session.exec(select(ClinicLocation))}
    found: list[OpenTime] = []
    for row in hours:
        opens, closes = _clock(row.starts), _clock(row.ends)
        start_day = max(first, row.valid_from or first)
        end_day = min(last, row.valid_until or last)
        if start_day > end_day:
            continue
        # Naive local wall times, then the zone: each day's 09:00 is 09:00 there, whatever the offset.
        days = rrule(
            WEEKLY,
            byweekday=row.weekday,
            dtstart=datetime.combine(start_day, opens),
            until=datetime.combine(end_day, opens),
        )
        unit = timedelta(minutes=row.unit_minutes)
        length = timedelta(minutes=minutes)
        for wall in days:
            day_open = wall.replace(tzinfo=tz).astimezone(UTC)
            day_close = datetime.combine(wall.date(), closes, tzinfo=tz).astimezone(UTC)
            start = day_open
            while start + length <= day_close:
                found.append(
                    OpenTime(
                        providers[row.provider_id],
                        locations.get(row.location_id),
                        start,
                        start + length,
                        row.unit_minutes,
                    )
                )
                start += unit
    return found


def imported_times(
    session: Session, *, start: datetime, end: datetime, code: str, minutes: int, provider_id: int | None
) -> list[OpenTime]:
    """The EHR's free slots for this visit type (or any type) in the window; busy slots are never times."""
    query = select(ImportedSlot).where(
        ImportedSlot.status == "free",
        col(ImportedSlot.start_at) >= start,
        col(ImportedSlot.start_at) < end,
        col(ImportedSlot.visit_type_code).is_(None) | (ImportedSlot.visit_type_code == code),
    )
    if provider_id is not None:
        query = query.where(ImportedSlot.provider_id == provider_id)
    slots = list(session.exec(query))
    providers = {p.id: p for p in session.exec(select(Provider))}
    locations = {loc.id: loc for loc in session.exec(select(ClinicLocation))}
    found = []
    for slot in slots:
        length = slot.end_at - slot.start_at
        if length < timedelta(minutes=minutes):
            continue
        unit = int(length.total_seconds() // 60)
        found.append(
            OpenTime(
                providers[slot.provider_id],
                locations.get(slot.location_id) if slot.location_id else None,
                slot.start_at,
                slot.start_at + timedelta(minutes=minutes),
                unit,
            )
        )
    return found


def _overlaps(start: datetime, end: datetime, ranges: list[tuple[datetime, datetime]]) -> bool:
    return any(start < other_end and other_start < end for other_start, other_end in ranges)


def open_times(
    session: Session,
    visit_type: VisitType,
    *,
    now: datetime,
    tz: ZoneInfo,
    days: int | None = None,
    provider_id: int | None = None,
    ignore_notice: bool = False,
) -> list[OpenTime]:
    """The times a visit of this type can be booked, soonest first: within the type's horizon and after
    its minimum notice (staff booking ignores the notice), not blocked, not held, not busy in the EHR."""
    earliest = now if ignore_notice else now + timedelta(hours=visit_type.min_notice_hours)
    latest = now + timedelta(days=min(days or visit_type.horizon_days, visit_type.horizon_days, MAX_DAYS))
    first, last = earliest.astimezone(tz).date(), latest.astimezone(tz).date()
    window_start, _ = local_day_bounds(first, tz)
    _, window_end = local_day_bounds(last, tz)
    candidates = template_times(
        session, first=first, last=last, tz=tz, minutes=visit_type.minutes, provider_id=provider_id
    ) + imported_times(
        session,
        start=window_start,
        end=window_end,
        code=visit_type.code,
        minutes=visit_type.minutes,
        provider_id=provider_id,
    )
    taken = _taken(session, window_start, window_end)
    free = {
        (t.provider.id, t.start_at): t
        for t in candidates
        if earliest <= t.start_at
        and t.end_at <= latest
        and not _overlaps(t.start_at, t.end_at, taken.get(t.provider.id, []) + taken.get(None, []))
    }
    return sorted(free.values(), key=lambda t: (t.start_at, t.provider.name))


def _taken(
    session: Session, start: datetime, end: datetime
) -> dict[int | None, list[tuple[datetime, datetime]]]:
    """Time nobody may book, by provider (None: the whole clinic): blocks, holds, the EHR's busy slots."""
    taken: dict[int | None, list[tuple[datetime, datetime]]] = defaultdict(list)
    for block in session.exec(
        select(ScheduleBlock).where(col(ScheduleBlock.start_at) < end, col(ScheduleBlock.end_at) > start)
    ):
        taken[block.provider_id].append((block.start_at, block.end_at))
    hold_length = _hold_lengths(session)
    for hold in session.exec(
        select(SlotHold).where(
            col(SlotHold.starts_at) >= start - timedelta(hours=4), col(SlotHold.starts_at) < end
        )
    ):
        taken[hold.provider_id].append((hold.starts_at, hold.starts_at + hold_length[hold.provider_id]))
    for slot in session.exec(
        select(ImportedSlot).where(
            ImportedSlot.status != "free",
            ImportedSlot.status != "entered-in-error",
            col(ImportedSlot.start_at) < end,
            col(ImportedSlot.end_at) > start,
        )
    ):
        taken[slot.provider_id].append((slot.start_at, slot.end_at))
    return taken


def _hold_lengths(session: Session) -> dict[int | None, timedelta]:
    """Each provider's grid unit (the smallest of their weekly hours'), one minute when they have none."""
    units: dict[int | None, timedelta] = defaultdict(lambda: timedelta(minutes=1))
    for row in session.exec(select(WeeklyHours)):
        unit = timedelta(minutes=row.unit_minutes)
        units[row.provider_id] = min(units.get(row.provider_id, unit), unit)
    return units


def by_day(times: list[OpenTime], tz: ZoneInfo) -> list[tuple[date, list[OpenTime]]]:
    """Open times grouped by the clinic's day, for a list of days each with its time buttons."""
    grouped: dict[date, list[OpenTime]] = defaultdict(list)
    for t in times:
        grouped[t.start_at.astimezone(tz).date()].append(t)
    return sorted(grouped.items())
