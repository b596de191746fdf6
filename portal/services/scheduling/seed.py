"""The demo clinic's calendar: two providers at two places, the visit types a family practice offers, a
week of hours, and the clinic's holidays. Used by `portal demo` and by tests; adds nothing twice."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import Session, select

from portal.models.scheduling import ClinicLocation, Provider, ScheduleBlock, VisitType, WeeklyHours

VISIT_TYPES = [
    # code, name, minutes, online, new patients, proxies, confidential, video, min age, max age
    ("follow-up", "Follow-up visit", 20, True, False, True, False, False, None, None),
    ("sick", "Sick visit", 20, True, True, True, False, False, None, None),
    ("well-child", "Well-child check", 40, True, True, True, False, False, 0, 17),
    ("video", "Video visit", 20, True, False, True, False, True, None, None),
    ("teen-private", "Private teen visit", 20, True, True, False, True, False, 12, 17),
    ("new-patient", "New patient visit", 60, False, True, True, False, False, None, None),
]
HOURS = [  # provider index, location index, weekdays, opens, closes
    (0, 0, (0, 1, 2, 3, 4), "09:00", "12:00"),
    (0, 1, (0, 2), "13:00", "16:00"),
    (1, 0, (1, 3, 4), "08:20", "12:20"),
]


def seed_calendar(session: Session, *, tz: ZoneInfo, today: date, video_url: str = "") -> bool:
    """Add the demo calendar unless one exists; True when it was added."""
    if session.exec(select(Provider)).first() is not None:
        return False
    providers = [Provider(name="Dr Maya Chen"), Provider(name="Dr Luis Ortega")]
    places = [
        ClinicLocation(name="Main Street", address="12 Main Street"),
        ClinicLocation(name="Riverside", address="3 River Road"),
    ]
    session.add_all([*providers, *places])
    session.flush()
    for code, name, minutes, online, new, proxies, confidential, video, low, high in VISIT_TYPES:
        session.add(
            VisitType(
                code=code,
                name=name,
                minutes=minutes,
                online=online,
                new_patients=new,
                proxies_may_book=proxies,
                confidential=confidential,
                video=video,
                video_url=(video_url or None) if video else None,
                min_age=low,
                max_age=high,
            )
        )
    for who, where, weekdays, opens, closes in HOURS:
        for weekday in weekdays:
            session.add(
                WeeklyHours(
                    provider_id=providers[who].id,  # type: ignore[arg-type]
                    location_id=places[where].id,  # type: ignore[arg-type]
                    weekday=weekday,
                    starts=opens,
                    ends=closes,
                )
            )
    # The next Thanksgiving-style holiday: the fourth Thursday of November.
    november = date(today.year if today.month < 12 else today.year + 1, 11, 1)
    holiday = november + timedelta(days=(3 - november.weekday()) % 7 + 21)
    session.add(whole_day_block(holiday, tz, kind="holiday", reason="Clinic closed"))
    session.flush()
    return True


def whole_day_block(
    day: date, tz: ZoneInfo, *, kind: str, reason: str, provider_id: int | None = None
) -> ScheduleBlock:
    """A block from the clinic's midnight to the next (23 or 25 hours on a change day)."""
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return ScheduleBlock(provider_id=provider_id, start_at=start, end_at=end, kind=kind, reason=reason)
