"""Opening a patient's chart for a page: the one path every patient-data view takes.

Every URL that shows a patient's record names that patient in its path (`/p/{patient}/...`, the patient's
random public id), so two tabs can show two children and a form always acts for the child its page shows.
`read_chart_or_404` signs the person in and reads the chart through the door (`access.read`: the decision,
the reader given the patient scope, and one audit event, all in one transaction); a patient the person may
not see, or a record that belongs to another patient, answers 404 exactly like a missing one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, Concatenate, ParamSpec, TypeVar

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_
from portal.models.base import utcnow
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.security.sessions import Client, require_person
from portal.services import access
from portal.services.access import Decision, Level, Screen
from portal.templating import render

T = TypeVar("T")
P = ParamSpec("P")

# The chart's sections, in the order the navigation shows them: (path under /p/{patient}/, label).
CHART_SECTIONS: list[tuple[str, str]] = [
    ("summary", N_("Summary")),
    ("appointments", N_("Appointments")),
    ("results", N_("Test results")),
    ("medications", N_("Medications")),
    ("refills", N_("Refills")),
    ("allergies", N_("Allergies")),
    ("problems", N_("Health issues")),
    ("immunizations", N_("Immunizations")),
    ("visits", N_("Visits")),
    ("documents", N_("Notes")),
    ("growth", N_("Growth")),
    ("messages", N_("Messages")),
    ("print", N_("Print or download")),
    ("billing", N_("Billing")),
    ("viewed", N_("Who viewed my record")),
]
# A section named here is shown only to viewers at one of these levels (every other section: to anyone
# who can open the chart; the page itself still checks access).
SECTION_LEVELS: dict[str, frozenset[Level]] = {"viewed": frozenset({Level.SELF})}
# Sections shown only to patients younger than this many whole years: growth charts are for under-20s.
SECTION_MAX_AGE: dict[str, int] = {"growth": 20}

# Avatar colours: each carries white text at 4.5:1 or better, and a patient always gets the same one.
AVATAR_COLOURS = ("#1d6b57", "#8a3b12", "#5b3f99", "#1c5d99", "#8c2155", "#4d5b14", "#6b4e16", "#2f5f6b")


@dataclass(frozen=True)
class Switchable:
    """One entry of the header's switcher: someone the signed-in person can act for."""

    public_id: str
    name: str
    age: int | None
    level: Level
    colour: str
    initials: str
    birth_date: date | None = None  # with as_of, for an age in words ("5 months old")
    as_of: date | None = None  # the clinic's today when the page was read


@dataclass(frozen=True)
class OpenChart:
    patient: Patient
    decision: Decision
    data: Any
    banner: Switchable  # name, age and colour for the "whose record" banner
    switchable: list[Switchable]  # everyone the person can act for, for the switcher


def rules_of(settings: Settings) -> access.AgeRules:
    return access.AgeRules(
        full_proxy_until_age=settings.full_proxy_until_age, adult_at_age=settings.adult_at_age
    )


def avatar_colour(public_id: str) -> str:
    return AVATAR_COLOURS[hashlib.sha256(public_id.encode()).digest()[0] % len(AVATAR_COLOURS)]


def describe(patient: Patient, level: Level, settings: Settings) -> Switchable:
    age = access.age_on(patient.birth_date, settings.today()) if patient.birth_date else None
    initials = "".join(part[:1] for part in (patient.given_name, patient.family_name) if part).upper() or "?"
    return Switchable(
        patient.public_id,
        patient.display_name,
        age,
        level,
        avatar_colour(patient.public_id),
        initials,
        patient.birth_date,
        settings.today(),
    )


def where(request: Request) -> Provenance:
    client = Client.of(request)
    route = request.scope.get("route")
    return Provenance(
        route=getattr(route, "name", None), client_address=client.address, request_id=client.request_id
    )


def require_screen(request: Request, screen: Screen) -> Person:
    """The signed-in member of staff whose role opens `screen` (the access service decides); else 403."""
    person = require_person(request)
    if not access.may_use_screen(person, screen):
        raise HTTPException(403)
    return person


def asker(request: Request) -> access.Asker:
    """The signed-in person asking, with the clinic's day, age rules, the moment and the request's origin."""
    settings: Settings = request.app.state.settings
    return access.Asker(
        require_person(request), settings.today(), rules_of(settings), utcnow(), where(request)
    )


async def read_chart_or_404(
    request: Request,
    look: access.Look,
    reader: Callable[Concatenate[Session, access.PatientScope, P], T | None],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> OpenChart:
    """The chart named in the URL, read through the door by `reader`, with banner and switcher; else 404.

    One transaction: the access decision, the read and its audit event (allowed or denied) commit together.
    """
    who = asker(request)
    settings: Settings = request.app.state.settings
    bound = access.bind(reader, *args, **kwargs)
    page = await run_db(request, access.read_page, who, request.path_params["patient"], look, bound)
    if page is None:
        raise HTTPException(404)  # after the commit, so that the denied attempt stays in the log
    scope = page.opened.scope
    decision = Decision(
        True, scope.level, scope.sees_confidential, scope.sees_patient_messages, areas=scope.areas
    )
    return OpenChart(
        scope.patient,
        decision,
        page.opened.data,
        describe(scope.patient, scope.level, settings),
        [describe(patient, level, settings) for patient, level in page.others],
    )


def sections_for(level: Level | None) -> list[tuple[str, str]]:
    """The sections a viewer at this level is shown in the chart's navigation."""
    return [
        (name, label)
        for name, label in CHART_SECTIONS
        if name not in SECTION_LEVELS or level in SECTION_LEVELS[name]
    ]


def chart_context(chart: OpenChart, **context: Any) -> dict[str, Any]:
    """What every chart page's template needs besides its own data."""
    age = chart.banner.age
    return {
        "chart": chart,
        "patient_id": chart.patient.public_id,
        "chart_sections": [
            (name, label)
            for name, label in sections_for(chart.decision.level)
            if name not in SECTION_MAX_AGE or (age is not None and age < SECTION_MAX_AGE[name])
        ],
        **context,
    }


async def switcher_page(request: Request) -> Response:
    """Everyone the person can act for, as a page: the switcher's no-JavaScript, any-page fallback."""
    person: Person = require_person(request)
    settings: Settings = request.app.state.settings
    found = await run_db(
        request, access.patients_for, person, today=settings.today(), rules=rules_of(settings)
    )
    switchable = [describe(patient, level, settings) for patient, level in found]
    welcome = request.query_params.get("welcome") == "1"
    if len(switchable) == 1:
        url = str(request.url_for("summary_page", patient=switchable[0].public_id))
        return RedirectResponse(url + ("?welcome=1" if welcome else ""), status_code=303)
    return render(request, "chart/switch.html", {"switchable": switchable, "welcome": welcome})


async def chart_home(request: Request) -> Response:
    return RedirectResponse(
        request.url_for("summary_page", patient=request.path_params["patient"]), status_code=303
    )


routes = [
    Route("/records", switcher_page, name="switcher_page"),
    Route("/p/{patient}", chart_home, name="chart_home"),
]
