"""Checking in online before a visit, under /p/{patient}/checkin: five steps, each its own page and form
(details, insurance, review, forms, consents), saved as they are sent, then "Send to the clinic".

Every page reads through the door (`read_chart_or_404`), every save changes through it (`access.acting`);
services refuse with codes, put into words here. Check-in is for patients and their proxies: staff review
what was sent on their own screen (views/registration_review.py).
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_, gettext
from portal.models.registration import STEPS
from portal.pdf.render import render_document, write_pdf
from portal.services import access
from portal.services.access import Area, Look
from portal.services.errors import Refused
from portal.services.registration import answers, consents, photos, review, steps
from portal.templating import render
from portal.views.chart import OpenChart, asker, chart_context, read_chart_or_404
from portal.views.printing import pdf_response

VIEW = Look(Area.APPOINTMENTS, "CheckIn")
SAVE = Look(Area.APPOINTMENTS, "CheckIn", action="update")
SEND = Look(Area.APPOINTMENTS, "CheckIn", action="check-in-sent")
MAX_FIELDS = 200
MAX_PHOTO_PART = photos.MAX_BYTES + 1  # one byte over, so the service can say "too large" itself
# The photo's form: a 10 MB photo plus the rest of the form; a file a little over 10 MB still gets the
# message next to the field, anything larger the 413 page (portal.request_log.BodyLimit).
PHOTO_BODY_LIMIT = photos.MAX_BYTES + 256 * 1024
BODY_LIMITS = {"checkin_insurance_photo": PHOTO_BODY_LIMIT}

STEP_TITLES = {
    "details": N_("Your details"),
    "insurance": N_("Insurance"),
    "review": N_("Allergies and medicines"),
    "forms": N_("Forms"),
    "consents": N_("Consents"),
}
REFUSALS: dict[str, str] = {
    "too_long": N_("This is too long. Please make it shorter."),
    "bad_date": N_("Please give the date as year, month and day, like 2015-05-31."),
    "birth_date_future": N_("The date of birth cannot be in the future."),
    "bad_email": N_("Please enter an email address, like name@example.com."),
    "name_required": N_("Please enter a first name."),
    "bad_choice": N_("Please choose one of the answers."),
    "photo_too_large": N_("This photo is too large: the largest we take is 10 MB."),
    "photo_missing": N_("Please choose a photo to send."),
    "not_a_photo": N_("This file is not a photo we can use. Please send a JPEG, PNG or HEIC photo."),
    "full_name_needed": N_("Please type your full name: first and last name."),
    "tick_to_agree": N_("Please tick the box to agree."),
    "steps_missing": N_("Please finish every step before you send your check-in."),
    "required": N_("Please answer this question."),
    "bad_integer": N_("Please enter a whole number, like 3."),
    "bad_decimal": N_("Please enter a number, like 7.5."),
}
FALLBACK = N_("That could not be saved. Please try again.")
CLOSED = {
    "no_visit": N_("You have no upcoming visit to check in for."),
    "too_early": N_("Check-in is not open yet."),
    "already_sent": N_("Your check-in was sent to the clinic."),
}


def say(code: str) -> str:
    return gettext(REFUSALS.get(code, FALLBACK))


def _opens_days(request: Request) -> int:
    settings: Settings = request.app.state.settings
    return settings.checkin_opens_days


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS, max_files=0) as form:
        return {key: value for key, value in form.items() if isinstance(value, str)}


def _context(request: Request, chart: OpenChart, step: str | None, **more: Any) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return chart_context(
        chart,
        section="checkin",
        step=step,
        steps=STEPS,
        step_titles=STEP_TITLES,
        number=STEPS.index(step) + 1 if step else None,
        closed=CLOSED,
        tz=settings.clinic_timezone,
        say=say,
        lang=i18n.current_locale(),
        **more,
    )


def _back_to(request: Request, where: str) -> RedirectResponse:
    patient = request.path_params["patient"]
    return RedirectResponse(f"/p/{patient}/checkin{where}", status_code=303)


async def _act(request: Request, look: Look, action: Any, *args: Any) -> access.Acted[Any]:
    acted = await run_db(
        request, access.acting(asker(request), request.path_params["patient"], look, action, *args)
    )
    if acted is None or (acted.refused is not None and acted.refused.code == "not_allowed"):
        raise HTTPException(404)  # after the commit, so that the denied attempt stays in the log
    return acted


def _next(step: str) -> str:
    index = STEPS.index(step)
    return f"/{STEPS[index + 1]}" if index + 1 < len(STEPS) else ""


# ------------------------------------------------------------------------------------------- pages


async def checkin_page(request: Request) -> Response:
    chart = await read_chart_or_404(request, VIEW, steps.progress, _opens_days(request))
    return render(
        request, "checkin/page.html", _context(request, chart, None, progress=chart.data, message=None)
    )


async def _step_page(request: Request, step: str, status: int = 200, **more: Any) -> Response:
    chart = await read_chart_or_404(request, VIEW, steps.progress, _opens_days(request))
    context = _context(request, chart, step, progress=chart.data, **more)
    return render(request, f"checkin/{step}.html", context, status_code=status)


async def details_page(request: Request) -> Response:
    return await _step_page(request, "details", values=None, problem=None)


async def details_save(request: Request) -> Response:
    form = await _form(request)
    settings: Settings = request.app.state.settings
    try:
        details = steps.clean_details(form, today=settings.today())
    except Refused as refused:
        # Nothing stored: the form comes back with what was typed (cut to what the field holds).
        kept = {name: form.get(name, "")[: steps.FIELD_LENGTH] for name in steps.DETAIL_FIELDS}
        problem = (str(refused.params.get("field", "")), say(refused.code))
        return await _step_page(request, "details", 400, values=kept, problem=problem)
    acted = await _act(request, SAVE, steps.save_details, details, _opens_days(request))
    return _after(request, acted, "details")


def _after(request: Request, acted: access.Acted[Any], step: str) -> Response:
    if isinstance(acted.data, steps.Closed):
        return _back_to(request, "")
    return _back_to(request, _next(step))


async def insurance_page(request: Request) -> Response:
    return await _step_page(request, "insurance", problem=None, saved=request.query_params.get("saved"))


async def insurance_save(request: Request) -> Response:
    form = await _form(request)
    try:
        insurance = steps.clean_insurance(form)
    except Refused as refused:
        problem = (str(refused.params.get("field", "")), say(refused.code))
        return await _step_page(request, "insurance", 400, problem=problem, saved=None)
    acted = await _act(request, SAVE, steps.save_insurance, insurance, _opens_days(request))
    return _after(request, acted, "insurance")


async def insurance_photo(request: Request) -> Response:
    """One side of the card: a form of its own, so each photo may be up to 10 MB."""
    async with request.form(max_fields=5, max_files=1, max_part_size=MAX_PHOTO_PART) as form:
        side = form.get("side")
        upload = form.get("photo")
        data = await upload.read(photos.MAX_BYTES + 1) if isinstance(upload, UploadFile) else b""
    acted = await _act(request, SAVE, steps.save_photo, str(side or ""), data, _opens_days(request))
    if acted.refused is not None:
        problem = ("photo", say(acted.refused.code))
        return await _step_page(request, "insurance", 400, problem=problem, saved=None)
    if isinstance(acted.data, steps.Closed):
        return _back_to(request, "")
    return _back_to(request, "/insurance?saved=photo")


async def review_page(request: Request) -> Response:
    chart = await read_chart_or_404(request, VIEW, review.review_page, _opens_days(request))
    page = chart.data
    context = _context(request, chart, "review", progress=page.progress, page=page, problem=None)
    return render(request, "checkin/review.html", context)


async def review_save(request: Request) -> Response:
    async with request.form(max_fields=MAX_FIELDS, max_files=0) as form:
        stopped = [str(v) for v in form.getlist("stopped") if isinstance(v, str)][:100]
        allergies = str(form.get("added_allergies") or "")
        medicines = str(form.get("added_medicines") or "")
    acted = await _act(request, SAVE, review.save_review, stopped, allergies, medicines, _opens_days(request))
    if acted.refused is not None:
        chart = await read_chart_or_404(request, VIEW, review.review_page, _opens_days(request))
        problem = ("added", say(acted.refused.code))
        context = _context(
            request, chart, "review", progress=chart.data.progress, page=chart.data, problem=problem
        )
        return render(request, "checkin/review.html", context, status_code=400)
    return _after(request, acted, "review")


async def forms_page(request: Request) -> Response:
    chart = await read_chart_or_404(request, VIEW, answers.forms_page, _opens_days(request))
    progress, found = chart.data
    return render(
        request, "checkin/forms.html", _context(request, chart, "forms", progress=progress, forms=found)
    )


async def forms_save(request: Request) -> Response:
    form = await _form(request)
    acted = await _act(request, SAVE, answers.save_forms, form, _opens_days(request))
    if isinstance(acted.data, steps.Closed):
        return _back_to(request, "")
    if acted.data is None:
        raise HTTPException(404)
    _, found = acted.data
    if any(f.problems for f in found):
        # Every answer was kept; the form comes back with a message next to each question left to answer.
        chart = await read_chart_or_404(request, VIEW, steps.progress, _opens_days(request))
        context = _context(request, chart, "forms", progress=chart.data, forms=found)
        return render(request, "checkin/forms.html", context, status_code=400)
    return _back_to(request, _next("forms"))


async def consents_page(request: Request) -> Response:
    chart = await read_chart_or_404(request, VIEW, consents.consents_page, _opens_days(request))
    progress, documents, signed = chart.data
    context = _context(
        request, chart, "consents", progress=progress, documents=documents, signed=signed, problem=None
    )
    return render(request, "checkin/consents.html", context)


async def consents_save(request: Request) -> Response:
    form = await _form(request)
    acted = await _act(request, SAVE, consents.sign, form, _opens_days(request))
    if acted.refused is not None:
        chart = await read_chart_or_404(request, VIEW, consents.consents_page, _opens_days(request))
        progress, documents, signed = chart.data
        problem = (str(acted.refused.params.get("field", "")), say(acted.refused.code))
        context = _context(
            request, chart, "consents", progress=progress, documents=documents, signed=signed, problem=problem
        )
        return render(request, "checkin/consents.html", context, status_code=400)
    if isinstance(acted.data, steps.Closed):
        return _back_to(request, "")
    return _back_to(request, "")


async def consents_pdf(request: Request) -> Response:
    """The consent documents signed for this check-in, as a PDF (one document with ?document=KEY)."""
    settings: Settings = request.app.state.settings
    look = Look(Area.APPOINTMENTS, "Consent", action="download")
    chart = await read_chart_or_404(request, look, consents.consents_page, _opens_days(request))
    progress, documents, signed = chart.data
    wanted = request.query_params.get("document")
    context = {
        "patient": chart.patient,
        "documents": [d for d in documents if d.key in signed and wanted in (None, d.key)],
        "signed": signed,
        "lang": i18n.current_locale(),
        "tz": settings.clinic_timezone,
        "clinic": {"name": settings.clinic_name},
    }
    env = request.app.state.templates.env

    def lay_out() -> bytes:
        return write_pdf([render_document(env, "pdf/consents.html", context, paper_size=settings.paper_size)])

    return pdf_response(await run_in_threadpool(lay_out), "consents.pdf")


async def checkin_submit(request: Request) -> Response:
    acted = await _act(request, SEND, review.submit, _opens_days(request))
    if acted.refused is not None:
        chart = await read_chart_or_404(request, VIEW, steps.progress, _opens_days(request))
        context = _context(request, chart, None, progress=chart.data, message=say(acted.refused.code))
        return render(request, "checkin/page.html", context, status_code=400)
    return _back_to(request, "")


routes = [
    Route("/p/{patient}/checkin", checkin_page, name="checkin_page"),
    Route("/p/{patient}/checkin/details", details_page, name="checkin_details_page"),
    Route("/p/{patient}/checkin/details", details_save, methods=["POST"], name="checkin_details_save"),
    Route("/p/{patient}/checkin/insurance", insurance_page, name="checkin_insurance_page"),
    Route("/p/{patient}/checkin/insurance", insurance_save, methods=["POST"], name="checkin_insurance_save"),
    Route(
        "/p/{patient}/checkin/insurance/photo",
        insurance_photo,
        methods=["POST"],
        name="checkin_insurance_photo",
    ),
    Route("/p/{patient}/checkin/review", review_page, name="checkin_review_page"),
    Route("/p/{patient}/checkin/review", review_save, methods=["POST"], name="checkin_review_save"),
    Route("/p/{patient}/checkin/forms", forms_page, name="checkin_forms_page"),
    Route("/p/{patient}/checkin/forms", forms_save, methods=["POST"], name="checkin_forms_save"),
    Route("/p/{patient}/checkin/consents", consents_page, name="checkin_consents_page"),
    Route("/p/{patient}/checkin/consents", consents_save, methods=["POST"], name="checkin_consents_save"),
    Route("/p/{patient}/checkin/consents/pdf", consents_pdf, name="checkin_consents_pdf"),
    Route("/p/{patient}/checkin/submit", checkin_submit, methods=["POST"], name="checkin_submit"),
]
