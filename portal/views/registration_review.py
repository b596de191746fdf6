"""The front desk's review of online check-ins: the queue, one patient's sent check-in side by side with
the record, and accepting or rejecting each change (a rejection carries a reason the patient sees).

The queue lists patients, so it is opened like any staff screen (`require_screen`) and audited once per
view; one patient's review goes through the door (`read_chart_or_404` / `access.acting`), and its reader
refuses anyone whose role does not open the registration screen, so they get the same 404 as a stranger.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.models.people import Person
from portal.services import access, audit
from portal.services.access import Area, Look, Screen
from portal.services.registration import review
from portal.templating import render
from portal.views.chart import OpenChart, asker, read_chart_or_404, require_screen, where

LOOK = Look(Area.APPOINTMENTS, "CheckIn")
DECIDE = Look(Area.APPOINTMENTS, "CheckIn", action="check-in-decided")
PROBLEMS = {
    "not_waiting": "That change is no longer waiting for a decision.",
    "too_long": "The reason is too long (500 characters at most).",
    "reason_needed": "Give the patient a reason when a change is not accepted.",
}


def _queue_and_audit(session: Any, person: Person, provenance: Any) -> list[review.Queued]:
    found = review.queue(session)
    audit.record(
        session,
        action="view",
        outcome="allowed",
        actor_person_id=person.id,
        actor_role=person.staff_role,
        resource_type="CheckIn",
        provenance=provenance,
    )
    return found


async def registration_queue(request: Request) -> Response:
    person = require_screen(request, Screen.REGISTRATION)
    queued = await run_db(request, _queue_and_audit, person, where(request))
    settings: Settings = request.app.state.settings
    return render(
        request, "front_desk/registration/queue.html", {"queued": queued, "tz": settings.clinic_timezone}
    )


def _may_review(request: Request) -> bool:
    return access.may_use_screen(asker(request).person, Screen.REGISTRATION)


async def _review_page(request: Request, *, message: str | None = None, status: int = 200) -> Response:
    chart: OpenChart = await read_chart_or_404(request, LOOK, review.staff_review, _may_review(request))
    data: review.StaffReview = chart.data
    photos = {
        side: "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()
        for side, jpeg in data.photos.items()
    }
    settings: Settings = request.app.state.settings
    context = {
        "chart": chart,
        "review": data,
        "photos": photos,
        "message": message,
        "tz": settings.clinic_timezone,
    }
    return render(request, "front_desk/registration/review.html", context, status_code=status)


async def registration_review_page(request: Request) -> Response:
    return await _review_page(request)


async def registration_decide(request: Request) -> Response:
    async with request.form(max_fields=10, max_files=0) as form:
        change_id = str(form.get("change") or "")[:64]
        accept = form.get("decision") == "accept"
        reason = str(form.get("reason") or "")
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            request.path_params["patient"],
            DECIDE,
            review.decide,
            _may_review(request),
            change_id,
            accept,
            reason,
        ),
    )
    if acted is None or acted.data is None:
        raise HTTPException(404)
    if acted.data.problem:
        status = 200 if acted.data.problem == "not_waiting" else 400
        return await _review_page(request, message=PROBLEMS[acted.data.problem], status=status)
    return await _review_page(request, message="Saved.")


routes = [
    Route("/front-desk/registration", registration_queue, name="registration_queue"),
    Route("/front-desk/registration/{patient}", registration_review_page, name="registration_review_page"),
    Route(
        "/front-desk/registration/{patient}/decide",
        registration_decide,
        methods=["POST"],
        name="registration_decide",
    ),
]
