"""Prescription refills: the patient's request form and history under /p/{patient}/, and the clinician's
queue and decisions.

Patient pages read with `read_chart_or_404` and change with `access.acting`: one transaction holds the
decision, the read or change and its audit event. The queue lists many patients through
`refills.queue` (`access.read_many`: one audited look per patient shown). Services refuse with codes;
`REFUSALS` puts each code into words.
"""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_, gettext
from portal.services import access, refills
from portal.services.access import Area, Look
from portal.services.errors import Refused
from portal.services.refills import rules
from portal.templating import render
from portal.views.chart import asker, chart_context, read_chart_or_404, require_screen

MAX_FIELDS = 12
HISTORY = Look(Area.RECORD, "Task")

# Each refusal code, in words (translated when shown). Unknown codes get FALLBACK.
REFUSALS: dict[str, str] = {
    "pharmacy_missing": N_("Please choose a pharmacy."),
    "other_pharmacy_missing": N_("Please type the name and address of your pharmacy."),
    "other_pharmacy_too_long": N_("Please keep the pharmacy's name and address under 300 letters."),
    "bad_days_left": N_("Please give the number of days of medicine left, from 0 to 365."),
    "note_too_long": N_("Please keep your note under 1000 letters."),
    "already_pending": N_("You already asked for a refill of this medicine. We show its status below."),
    "not_refillable": N_("This medicine can't be refilled online."),
}
FALLBACK = N_("That could not be done. Please try again.")
# The clinician's screen stays in English (staff words, not translated).
STAFF_REFUSALS: dict[str, str] = {
    "bad_decision": "Choose approve, deny or needs a visit.",
    "bad_quantity": "Give a quantity from 1 to 1000.",
    "bad_refills": "Give a number of refills from 0 to 11.",
    "reason_missing": "Give the reason for the denial: the patient reads it.",
    "already_decided": "Another clinician already decided this request. The queue below is up to date.",
}


def say(refused: Refused) -> str:
    """The refusal in the reader's language (never the exception's own text)."""
    if refused.code in STAFF_REFUSALS:
        return STAFF_REFUSALS[refused.code]
    return gettext(REFUSALS.get(refused.code, FALLBACK))


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value)[:2000] for key, value in form.items() if isinstance(value, str)}


def _context(request: Request, chart: Any, **context: Any) -> dict[str, Any]:
    settings = _settings(request)
    return chart_context(
        chart,
        section="refills",
        tz=settings.clinic_timezone,
        **context,
    )


# ------------------------------------------------------------------------------ patients and proxies


async def refills_page(request: Request) -> Response:
    """Every request this viewer may see, with its status and its steps."""
    chart = await read_chart_or_404(request, HISTORY, refills.history)
    sent = request.query_params.get("sent") == "1"
    return render(request, "refills/page.html", _context(request, chart, sent=sent))


async def _form_page(
    request: Request, *, message: str | None = None, values: dict[str, str] | None = None, status: int = 200
) -> Response:
    medication = request.path_params["medication"]
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "MedicationRequest", medication), refills.request_form, medication
    )
    return render(
        request,
        "refills/request.html",
        _context(request, chart, message=message, values=values or {}, other=rules.OTHER),
        status_code=status,
    )


async def refill_form_page(request: Request) -> Response:
    return await _form_page(request)


async def refill_create(request: Request) -> Response:
    """Send a request; bad input answers 400 with the form and its words, and stores nothing."""
    fields = await _form(request)
    try:
        parsed = refills.parse_request(fields)
    except Refused as refused:
        return await _form_page(request, message=say(refused), values=fields, status=400)
    patient = request.path_params["patient"]
    medication = request.path_params["medication"]
    look = Look(Area.RECORD, "Task", action="create")
    acted = await run_db(
        request, access.acting(asker(request), patient, look, refills.create_request, medication, parsed)
    )
    if acted is None:
        raise HTTPException(404)  # after the commit, so that the denied attempt stays in the log
    if acted.refused is not None:
        # A second request (or the loser of a race) is shown the first's status on the form page.
        status = 409 if acted.refused.code == "already_pending" else 400
        return await _form_page(request, message=say(acted.refused), values=fields, status=status)
    return RedirectResponse(f"/p/{patient}/refills?sent=1", status_code=303)


# ------------------------------------------------------------------------------ clinicians


async def _queue_page(
    request: Request, *, message: str | None = None, done: str | None = None, status: int = 200
) -> Response:
    require_screen(request, access.Screen.REFILLS)
    items = await run_db(request, refills.queue, asker(request))
    context = {"items": items, "message": message, "done": done, "tz": _settings(request).clinic_timezone}
    return render(request, "clinician/refills.html", context, status_code=status)


async def refill_queue_page(request: Request) -> Response:
    return await _queue_page(request)


async def refill_decide(request: Request) -> Response:
    """Approve, deny or ask for a visit; decided once (the second clinician is told, 409). Anyone who may
    not decide gets the door's 404 (audited as denied), whatever the form held."""
    fields = await _form(request)
    try:
        decision: refills.DecisionInput | None = refills.parse_decision(fields)
        refusal = None
    except Refused as refused:
        decision, refusal = None, refused
    refill = request.path_params["refill"]
    look = Look(Area.RECORD, "Task", refill, action="decide")
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            request.path_params["patient"],
            look,
            refills.decide,
            refill,
            decision,
            clinic=_settings(request).clinic_name,
        ),
    )
    if acted is None:
        raise HTTPException(404)  # after the commit, so that the denied attempt stays in the log
    if acted.refused is not None:
        status = 409 if acted.refused.code == "already_decided" else 400
        return await _queue_page(request, message=say(refusal or acted.refused), status=status)
    return await _queue_page(request, done="Decision recorded.")


routes = [
    Route("/p/{patient}/refills", refills_page, name="refills_page"),
    Route("/p/{patient}/medications/{medication}/refill", refill_form_page, name="refill_form_page"),
    Route(
        "/p/{patient}/medications/{medication}/refill", refill_create, methods=["POST"], name="refill_create"
    ),
    Route("/clinic/refills", refill_queue_page, name="refill_queue_page"),
    Route("/p/{patient}/refills/{refill}/decide", refill_decide, methods=["POST"], name="refill_decide"),
]
