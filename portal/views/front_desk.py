"""The front desk: activation codes for patients, and resetting a patient's sign-in."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.db import run_db
from portal.security.sessions import Client, require_staff
from portal.services import identity
from portal.templating import render

ROLES = ("front_desk", "admin")
NOT_FOUND = "No patient has that ID. Check it in the EHR and try again."


async def front_desk_page(request: Request) -> Response:
    require_staff(request, *ROLES)
    return render(request, "front_desk/page.html", {"message": None, "issued": None})


async def _issue_view(request: Request, *, reset: bool) -> Response:
    staff = require_staff(request, *ROLES)
    async with request.form(max_fields=10) as form:
        fhir_id = str(form.get("patient", "")).strip()[:64]
    issued = await run_db(
        request,
        identity.issue_for_fhir_id,
        fhir_id=fhir_id,
        staff=staff,
        client=Client.of(request),
        reset=reset,
    )
    if issued is None:
        return render(
            request, "front_desk/page.html", {"message": NOT_FOUND, "issued": None}, status_code=400
        )
    patient, code = issued
    context = {"message": None, "issued": {"name": patient.display_name, "code": code, "reset": reset}}
    return render(request, "front_desk/page.html", context)


async def activation_code_create(request: Request) -> Response:
    return await _issue_view(request, reset=False)


async def sign_in_reset(request: Request) -> Response:
    return await _issue_view(request, reset=True)


routes = [
    Route("/front-desk", front_desk_page, name="front_desk_page"),
    Route(
        "/front-desk/activation-code", activation_code_create, methods=["POST"], name="activation_code_create"
    ),
    Route("/front-desk/reset", sign_in_reset, methods=["POST"], name="sign_in_reset"),
]
