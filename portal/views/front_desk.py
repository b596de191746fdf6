"""The front desk: activation codes for patients, and resetting a patient's sign-in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.db import run_db
from portal.models.people import StaffRole
from portal.security.sessions import Client, require_staff
from portal.services.errors import Refused
from portal.services.identity import front_desk
from portal.templating import render
from portal.views.auth import parse_birth_date
from portal.views.identity_refusals import refusal_message

ROLES = (StaffRole.FRONT_DESK, StaffRole.ADMIN)
NOT_FOUND = "No patient has that ID. Check it in the EHR and try again."
SEARCH_INCOMPLETE = "Enter the patient's family name and date of birth."


def _context(**values: object) -> dict[str, object]:
    return {"message": None, "issued": None, "results": None, "family": "", "birth_date": "", **values}


async def front_desk_page(request: Request) -> Response:
    require_staff(request, *ROLES)
    return render(request, "front_desk/page.html", _context())


async def front_desk_search(request: Request) -> Response:
    """Find a patient by family name and date of birth (sent in a POST body: never in a URL)."""
    staff = require_staff(request, *ROLES)
    async with request.form(max_fields=10) as form:
        family = str(form.get("family", ""))[:200]
        typed_birth_date = str(form.get("birth_date", ""))[:20]
    birth_date = parse_birth_date(typed_birth_date)
    if birth_date is None or not family.strip():
        context = _context(message=SEARCH_INCOMPLETE, family=family, birth_date=typed_birth_date)
        return render(request, "front_desk/page.html", context, status_code=400)
    results = await run_db(
        request,
        front_desk.search_patients,
        family_name=family,
        birth_date=birth_date,
        staff=staff,
        client=Client.of(request),
    )
    context = _context(results=results, family=family, birth_date=typed_birth_date)
    return render(request, "front_desk/page.html", context)


async def _issue_view(request: Request, *, reset: bool) -> Response:
    staff = require_staff(request, *ROLES)
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
    except Refused as refusal:
        context = _context(message=refusal_message(refusal))
        return render(request, "front_desk/page.html", context, status_code=400)
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
