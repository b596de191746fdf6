"""The front desk: activation codes for patients, resetting a patient's sign-in, and the patient search.

Which roles open these screens is the access service's decision (`Screen.FRONT_DESK`); the search is the
one audited front-desk search (`services.patient_search`), sent by POST so that names stay out of URLs.
"""

from __future__ import annotations

from datetime import date

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.db import run_db
from portal.security.sessions import Client
from portal.services import patient_search
from portal.services.access import Screen
from portal.services.errors import Refused
from portal.services.identity import front_desk
from portal.templating import render
from portal.views.auth import parse_birth_date
from portal.views.chart import require_screen, where
from portal.views.identity_refusals import refusal_message

NOT_FOUND = "No patient has that ID. Check it in the EHR and try again."
SEARCH_INCOMPLETE = "Enter the patient's family name and date of birth."


def parse_day(value: str) -> date | None:
    """A typed or picked date (empty: None); Refused("bad_date") for anything else."""
    if not value.strip():
        return None
    day = parse_birth_date(value)
    if day is None:
        raise Refused("bad_date")
    return day


def _context(**values: object) -> dict[str, object]:
    return {"message": None, "issued": None, "results": None, "family": "", "birth_date": "", **values}


async def front_desk_page(request: Request) -> Response:
    require_screen(request, Screen.FRONT_DESK)
    return render(request, "front_desk/page.html", _context())


async def front_desk_search(request: Request) -> Response:
    """Find a patient by a name (family name, or its first letters) and the exact date of birth."""
    staff = require_screen(request, Screen.FRONT_DESK)
    async with request.form(max_fields=10) as form:
        family = str(form.get("family", ""))[:200]
        typed_birth_date = str(form.get("birth_date", ""))[:20]
    query = patient_search.Query(name=family, birth_date=parse_birth_date(typed_birth_date))
    try:
        results = await run_db(
            request, patient_search.search, staff, query, screen=Screen.FRONT_DESK, provenance=where(request)
        )
    except Refused:
        context = _context(message=SEARCH_INCOMPLETE, family=family, birth_date=typed_birth_date)
        return render(request, "front_desk/page.html", context, status_code=400)
    context = _context(results=results, family=family, birth_date=typed_birth_date)
    return render(request, "front_desk/page.html", context)


async def _issue_view(request: Request, *, reset: bool) -> Response:
    staff = require_screen(request, Screen.FRONT_DESK)
    async with request.form(max_fields=10) as form:
        fhir_id = str(form.get("patient", "")).strip()[:64]
    try:
        result = await run_db(
            request,
            front_desk.issue_for_fhir_id,
            fhir_id=fhir_id,
            staff=staff,
            client=Client.of(request),
            reset=reset,
        )
    except Refused as refused:
        message = refusal_message(refused)  # identity's words for its codes
        return render(request, "front_desk/page.html", _context(message=message), status_code=400)
    if result is None:
        return render(request, "front_desk/page.html", _context(message=NOT_FOUND), status_code=400)
    patient, code = result
    issued = {"name": patient.display_name, "code": code, "reset": reset}
    return render(request, "front_desk/page.html", _context(issued=issued))


async def activation_code_create(request: Request) -> Response:
    return await _issue_view(request, reset=False)


async def sign_in_reset(request: Request) -> Response:
    return await _issue_view(request, reset=True)


routes = [
    Route("/front-desk", front_desk_page, name="front_desk_page"),
    Route("/front-desk/search", front_desk_search, methods=["POST"], name="front_desk_search"),
    Route(
        "/front-desk/activation-code", activation_code_create, methods=["POST"], name="activation_code_create"
    ),
    Route("/front-desk/reset", sign_in_reset, methods=["POST"], name="sign_in_reset"),
]
