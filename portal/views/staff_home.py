"""A member of staff's home page: the tools their role opens, as links; and the clinician's chart search.

Which tools a role sees is the access service's decision (`access.may_use_screen`); `STAFF_TOOLS` says
only where each screen lives. A new screen adds its link with one line there.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.db import run_db
from portal.models.people import Person
from portal.security.sessions import require_person
from portal.services import access, patient_search
from portal.services.access import Screen
from portal.services.errors import Refused
from portal.templating import render
from portal.views.auth import parse_birth_date
from portal.views.chart import require_screen, where

# (screen, the route that opens it, what the link says). Staff screens are in English.
STAFF_TOOLS: list[tuple[Screen, str, str]] = [
    (Screen.CHARTS, "chart_search", "Find a patient and open their chart"),
    (Screen.FRONT_DESK, "front_desk_page", "Find a patient, activation codes, sign-in resets"),
    (Screen.INBOX, "staff_inbox_page", "Messages: the care team's inbox"),
    (Screen.REFILLS, "refill_queue_page", "Refill requests waiting for a decision"),
    (Screen.SCHEDULE, "schedule_page", "Schedule: a day's visits, booking for patients, requests"),
    (Screen.REGISTRATION, "registration_queue", "Online check-ins to review"),
    (Screen.BILLING, "billing_accounts", "Billing accounts, payments and the day's reconciliation"),
    (Screen.PROXIES, "patient_search", "Proxy access: who can act for a patient"),
    (Screen.PRINTING, "staff_print_page", "Print visit summaries: one visit or a day's"),
    (Screen.RESULT_HOLDS, "result_holds_page", "Result holds: when results are released to patients"),
    (Screen.AUDIT, "audit_search", "Audit log: who saw or changed what"),
    (Screen.CARE_TEAMS, "care_teams_page", "Care teams: where patients' messages go"),
]

SEARCH_INCOMPLETE = "Enter the patient's family name and date of birth, or their patient ID."


def tools_for(request: Request, person: Person) -> list[tuple[str, str]]:
    """(link, words) for each tool this person's role opens, in STAFF_TOOLS's order."""
    return [
        (str(request.app.url_path_for(route)), words)
        for screen, route, words in STAFF_TOOLS
        if access.may_use_screen(person, screen)
    ]


async def staff_home(request: Request) -> Response:
    person = require_person(request)
    return render(
        request, "staff/home.html", {"tools": tools_for(request, person) if person.staff_role else []}
    )


def _search_context(**values: object) -> dict[str, object]:
    return {"message": None, "results": None, "family": "", "birth_date": "", "fhir_id": "", **values}


async def chart_search(request: Request) -> Response:
    require_screen(request, Screen.CHARTS)
    return render(request, "staff/charts.html", _search_context())


async def chart_search_submit(request: Request) -> Response:
    """Find a patient by name and birth date, or by the EHR's id; each patient shown is audited."""
    staff = require_screen(request, Screen.CHARTS)
    async with request.form(max_fields=10) as form:
        family = str(form.get("family", ""))[: patient_search.MAX_NAME]
        typed_birth_date = str(form.get("birth_date", ""))[:20]
        fhir_id = str(form.get("patient", "")).strip()[: patient_search.MAX_ID]
    query = patient_search.Query(fhir_id=fhir_id, name=family, birth_date=parse_birth_date(typed_birth_date))
    typed = {"family": family, "birth_date": typed_birth_date, "fhir_id": fhir_id}
    try:
        found = await run_db(
            request, patient_search.search, staff, query, screen=Screen.CHARTS, provenance=where(request)
        )
    except Refused:
        return render(
            request, "staff/charts.html", _search_context(message=SEARCH_INCOMPLETE, **typed), status_code=400
        )
    return render(request, "staff/charts.html", _search_context(results=found, **typed))


routes = [
    Route("/staff", staff_home, name="staff_home"),
    Route("/staff/charts", chart_search, name="chart_search"),
    Route("/staff/charts", chart_search_submit, methods=["POST"], name="chart_search_submit"),
]
