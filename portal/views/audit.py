"""The audit log on screen: the admin's search and download; "Who has viewed my record" for the patient.

The admin's filters name people (a patient's FHIR id, an email, a name), so they never travel in a URL,
where browser history and server logs would keep them: the search, its page turns and the download are
POSTed forms (with the CSRF token, as every form). A GET shows the newest events, unfiltered.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_
from portal.models.base import utcnow
from portal.models.people import StaffRole
from portal.services import access, audit
from portal.services.access import Area, Screen
from portal.services.plain_words.activity import ACTION_WORDS, ANYTHING, RESOURCE_WORDS, ROUTE_WORDS
from portal.templating import render
from portal.views.chart import chart_context, read_chart_or_404, require_screen, where

# -- the admin's screen ------------------------------------------------------------------------------

FIELDS = ("patient", "person", "action", "since", "until")
FIELD_LENGTH = {"patient": 64, "person": 320, "action": 40, "since": 10, "until": 10}
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
PER_PAGE = 50
MAX_PAGE = 100_000


@dataclass(frozen=True)
class SearchForm:
    """The screen's filters as typed (to show back), as parsed, and what is wrong with them."""

    values: dict[str, str]
    filters: audit.Filters
    problems: dict[str, str]
    page: int


def day_in(text: str, problems: dict[str, str], field: str) -> date | None:
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if ISO_DAY.fullmatch(text) else None
    except ValueError:
        day = None
    if day is None or day == date.max:  # the last day has no next day to end at
        problems[field] = "Enter a date as YYYY-MM-DD, for example 2026-03-01."
        return None
    return day


def read_form(params: Mapping[str, str], zone: ZoneInfo) -> SearchForm:
    """Parse the filters; days are the clinic's days, both ends included."""
    values = {name: str(params.get(name, "")).strip()[: FIELD_LENGTH[name]] for name in FIELDS}
    problems: dict[str, str] = {}
    action = values["action"] or None
    if action is not None and action not in audit.ACTIONS:
        problems["action"] = "Choose an action from the list."
    since_day = day_in(values["since"], problems, "since")
    until_day = day_in(values["until"], problems, "until")
    if since_day and until_day and until_day < since_day:
        problems["until"] = "The end date is before the start date."
    page_text = str(params.get("page", "1"))
    page = min(int(page_text), MAX_PAGE) if page_text.isdigit() and len(page_text) <= 6 else 1
    filters = audit.Filters(
        patient=values["patient"],
        person=values["person"],
        action=action,
        since=datetime.combine(since_day, time.min, tzinfo=zone) if since_day else None,
        until=datetime.combine(until_day + timedelta(days=1), time.min, tzinfo=zone) if until_day else None,
    )
    return SearchForm(values, filters, problems, max(page, 1))


def screen_context(request: Request, form: SearchForm, screen: audit.Screen | None) -> dict[str, object]:
    settings: Settings = request.app.state.settings
    page = screen.page if screen else None
    return {
        "values": form.values,
        "problems": {**form.problems, **(screen.problems if screen else {})},
        "actions": sorted(audit.ACTIONS),
        "zone": settings.clinic_timezone,
        "results": page,
        # Page turns are POSTed forms carrying the filters: the page number is all that changes.
        "previous_page": min(page.page - 1, page.pages) if page and page.page > 1 else None,
        "next_page": page.page + 1 if page and page.page < page.pages else None,
    }


async def search_form(request: Request, zone: ZoneInfo) -> SearchForm:
    """The filters and page POSTed by the search form or a page turn; a GET asks for the newest events."""
    if request.method != "POST":
        return read_form({}, zone)
    async with request.form(max_fields=20) as data:
        return read_form({name: str(data.get(name, "")) for name in (*FIELDS, "page")}, zone)


async def audit_search(request: Request) -> Response:
    """Search the log by patient, person, action and dates, a page at a time; the search is audited."""
    admin = require_screen(request, Screen.AUDIT)
    settings: Settings = request.app.state.settings
    form = await search_form(request, settings.timezone)
    if form.problems:
        context = screen_context(request, form, None)
        return render(request, "audit/search.html", context, fragment="audit/_results.html", status_code=400)
    screen = await run_db(
        request,
        audit.screen_search,
        form.filters,
        page=form.page,
        per_page=PER_PAGE,
        actor=admin,
        where=where(request),
    )
    status = 400 if screen.problems else 200
    context = screen_context(request, form, screen)
    return render(request, "audit/search.html", context, fragment="audit/_results.html", status_code=status)


async def audit_export(request: Request) -> Response:
    """The events the screen's filters select, as a CSV download; the download is audited as an export."""
    admin = require_screen(request, Screen.AUDIT)
    settings: Settings = request.app.state.settings
    async with request.form(max_fields=20) as data:
        form = read_form({name: str(data.get(name, "")) for name in FIELDS}, settings.timezone)
    download = None
    if not form.problems:
        download = await run_db(request, audit.screen_export, form.filters, actor=admin, where=where(request))
    if download is None or download.csv is None:
        context = screen_context(request, form, None)
        context["problems"] = {**form.problems, **(download.problems if download else {})}
        return render(request, "audit/search.html", context, status_code=400)
    stamp = utcnow().strftime("%Y%m%d-%H%M%S")  # names the file only: no patient, no person
    return Response(
        download.csv,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="audit-log-{stamp}.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- "Who has viewed my record" ------------------------------------------------------------------

VIEWINGS_PER_PAGE = 25

# What was looked at and what was done (RESOURCE_WORDS, ACTION_WORDS...) are plain_words.activity's, shared
# with "What they did for you".
ROLE_WORDS = {
    StaffRole.CLINICIAN: N_("Doctor or nurse"),
    StaffRole.FRONT_DESK: N_("Front desk"),
    StaffRole.BILLING: N_("Billing office"),
    StaffRole.ADMIN: N_("Clinic administrator"),
    "proxy": N_("Parent, guardian or caregiver"),
}
SOMEONE = N_("Clinic staff")


@dataclass(frozen=True)
class Look:
    """One row of "Who has viewed my record", as message ids the template translates."""

    name: str
    role: str
    action: str
    what: str
    at: datetime


def in_words(viewing: audit.Viewing) -> Look:
    what = RESOURCE_WORDS.get(viewing.resource_type or "")
    if what is None:
        what = next((words for part, words in ROUTE_WORDS.items() if part in (viewing.route or "")), ANYTHING)
    return Look(
        name=viewing.actor_name,
        role=ROLE_WORDS.get(viewing.actor_role or "", SOMEONE),
        action=ACTION_WORDS.get(viewing.action, ACTION_WORDS["view"]),
        what=what,
        at=viewing.occurred_at,
    )


async def viewed_page(request: Request) -> Response:
    """Staff and proxies who looked at this record, what and when, newest first: for the patient."""
    settings: Settings = request.app.state.settings
    page_text = request.query_params.get("page", "1")
    page = min(int(page_text), MAX_PAGE) if page_text.isdigit() and len(page_text) <= 6 else 1
    page = max(page, 1)
    look = access.Look(Area.AUDIT, "audit_event")
    chart = await read_chart_or_404(request, look, audit.who_viewed_page, page, per_page=VIEWINGS_PER_PAGE)
    viewings: audit.ViewingPage = chart.data
    path = request.url_for("viewed_page", patient=chart.patient.public_id).path
    more = page * VIEWINGS_PER_PAGE < viewings.total
    last = max(1, -(-viewings.total // VIEWINGS_PER_PAGE))
    context = chart_context(
        chart,
        section="viewed",
        looks=[in_words(viewing) for viewing in viewings.rows],
        total=viewings.total,
        page=page,
        zone=settings.clinic_timezone,
        newer_url=f"{path}?page={min(page - 1, last)}" if page > 1 else None,
        older_url=f"{path}?page={page + 1}" if more else None,
    )
    return render(request, "chart/viewed.html", context)


routes = [
    Route("/admin/audit", audit_search, methods=["GET", "POST"], name="audit_search"),
    Route("/admin/audit/export", audit_export, methods=["POST"], name="audit_export"),
    Route("/p/{patient}/viewed", viewed_page, name="viewed_page"),
]
