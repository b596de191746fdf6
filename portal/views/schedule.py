"""The schedule screen for staff (English): a day per provider and location, blocking and unblocking time,
finding a patient to book for, and the queue of appointment requests.

Booking, rescheduling and cancelling for a patient happen on the patient's chart (through the door), from
the links here. Which roles open the screen is access's decision (`Screen.SCHEDULE`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.services import patient_search
from portal.services.access import Screen
from portal.services.errors import Refused
from portal.services.scheduling import staff as schedule
from portal.templating import render
from portal.views.auth import parse_birth_date
from portal.views.chart import require_screen, where

MESSAGES = {
    "choose_provider": "Choose a provider.",
    "bad_block_times": "Give a start before the end, on one day, up to 31 days long.",
    "not_found": "That block is gone, or it is a holiday or day off (change those in the calendar).",
    "search_incomplete": "Enter the patient's family name and date of birth.",
}


def _day(value: str, settings: Settings) -> date:
    try:
        return date.fromisoformat(value[:10]) if value else settings.today()
    except ValueError:
        return settings.today()


async def _day_page(
    request: Request, *, message: str | None = None, status: int = 200, **more: object
) -> Response:
    staff = require_screen(request, Screen.SCHEDULE)
    settings: Settings = request.app.state.settings
    params = request.query_params
    day = _day(params.get("day", ""), settings)
    view = await run_db(
        request,
        schedule.day_view,
        staff,
        day=day,
        provider_id=params.get("provider", "")[:32],
        location_id=params.get("location", "")[:32],
        tz=settings.timezone,
        provenance=where(request),
    )
    context = {
        "view": view,
        "tz": settings.timezone.key,
        "message": message,
        "previous": day - timedelta(days=1),
        "next": day + timedelta(days=1),
        "results": None,
        **more,
    }
    return render(request, "staff/schedule.html", context, status_code=status)


async def schedule_page(request: Request) -> Response:
    return await _day_page(request)


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=10) as form:
        return {key: str(value).strip()[:300] for key, value in form.items() if isinstance(value, str)}


def _back(form: dict[str, str]) -> str:
    """Back to the same day view (the day and public ids only: nothing about a patient)."""
    return "/staff/schedule?" + urlencode({k: form.get(k, "")[:32] for k in ("day", "provider", "location")})


async def schedule_block(request: Request) -> Response:
    staff = require_screen(request, Screen.SCHEDULE)
    settings: Settings = request.app.state.settings
    form = await _form(request)
    day = _day(form.get("day", ""), settings)
    try:
        starts = time.fromisoformat(form.get("starts", ""))
        ends = time.fromisoformat(form.get("ends", ""))
    except ValueError:
        return await _day_page(request, message=MESSAGES["bad_block_times"], status=400)
    tz = settings.timezone
    try:
        await run_db(
            request,
            schedule.block_time,
            staff,
            provider_id=form.get("provider", "")[:32],
            start_at=datetime.combine(day, starts, tzinfo=tz),
            end_at=datetime.combine(day, ends, tzinfo=tz),
            reason=form.get("reason", ""),
        )
    except Refused as refused:
        return await _day_page(request, message=MESSAGES.get(refused.code, "Not done."), status=400)
    return RedirectResponse(_back(form), status_code=303)


async def schedule_unblock(request: Request) -> Response:
    staff = require_screen(request, Screen.SCHEDULE)
    form = await _form(request)
    try:
        await run_db(request, schedule.unblock_time, staff, form.get("block", "")[:32])
    except Refused as refused:
        return await _day_page(request, message=MESSAGES.get(refused.code, "Not done."), status=400)
    return RedirectResponse(_back(form), status_code=303)


async def schedule_find(request: Request) -> Response:
    """Find the patient to book for (the front desk's one audited search), then book on their chart."""
    staff = require_screen(request, Screen.SCHEDULE)
    form = await _form(request)
    query = patient_search.Query(
        name=form.get("family", ""), birth_date=parse_birth_date(form.get("birth_date", ""))
    )
    try:
        results = await run_db(
            request, patient_search.search, staff, query, screen=Screen.SCHEDULE, provenance=where(request)
        )
    except Refused as refused:
        return await _day_page(request, message=MESSAGES.get(refused.code, "Not done."), status=400)
    return await _day_page(request, results=results)


async def schedule_requests(request: Request) -> Response:
    staff = require_screen(request, Screen.SCHEDULE)
    items = await run_db(request, schedule.request_queue, staff, provenance=where(request))
    settings: Settings = request.app.state.settings
    return render(request, "staff/schedule_requests.html", {"items": items, "tz": settings.timezone.key})


routes = [
    Route("/staff/schedule", schedule_page, name="schedule_page"),
    Route("/staff/schedule/block", schedule_block, methods=["POST"], name="schedule_block"),
    Route("/staff/schedule/unblock", schedule_unblock, methods=["POST"], name="schedule_unblock"),
    Route("/staff/schedule/find", schedule_find, methods=["POST"], name="schedule_find"),
    Route("/staff/schedule/requests", schedule_requests, name="schedule_requests"),
]
