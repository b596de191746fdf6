"""Summaries as PDF: patients (and proxies) download theirs; staff print a visit or a provider's day.

Every document is read through the door (`read_chart_or_404`, or the printing service's `access.read` for
each patient of a staff print); which document each role gets is decided by the scope's areas (see
services/access.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.config import Settings
from portal.db import run_db
from portal.models.printing import PrintJob
from portal.services import printing, records
from portal.services.access import Area, Look, Screen
from portal.templating import render
from portal.views.chart import asker, chart_context, read_chart_or_404, require_screen


def pdf_response(pdf: bytes, filename: str) -> Response:
    """A download that names no one (no name or birth date in the file name) and is never cached."""
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )


async def render_pdf(request: Request, documents: list[Any]) -> bytes:
    """Lay the documents out in a worker thread: WeasyPrint never runs on the event loop."""
    settings: Settings = request.app.state.settings
    env = request.app.state.templates.env
    return await run_in_threadpool(printing.render_pdf, env, settings, documents, lang=i18n.current_locale())


# Patients and proxies ------------------------------------------------------------------------------


async def print_page(request: Request) -> Response:
    """The patient's documents to download: the health summary, the vaccine record, each visit."""
    settings: Settings = request.app.state.settings
    chart = await read_chart_or_404(request, Look(Area.DOCUMENTS, "Documents"), records.encounters)
    context = chart_context(chart, section="print", visits=chart.data, timezone=settings.timezone)
    return render(request, "chart/print.html", context)


async def visit_summary_download(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    encounter = request.path_params["encounter"]
    look = Look(Area.DOCUMENTS, "Encounter", encounter, action="download")
    chart = await read_chart_or_404(request, look, printing.visit_summary, settings, encounter)
    return pdf_response(await render_pdf(request, [chart.data]), "visit-summary.pdf")


async def record_summary_download(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    look = Look(Area.DOCUMENTS, "RecordSummary", action="download")
    chart = await read_chart_or_404(request, look, printing.record_summary, settings)
    return pdf_response(await render_pdf(request, [chart.data]), "health-summary.pdf")


async def immunization_record_download(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    look = Look(Area.DOCUMENTS, "ImmunizationRecord", action="download")
    chart = await read_chart_or_404(request, look, printing.immunization_record, settings)
    return pdf_response(await render_pdf(request, [chart.data]), "immunization-record.pdf")


# Staff ---------------------------------------------------------------------------------------------


def parse_date(value: str) -> date | None:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


async def staff_print_page(request: Request) -> Response:
    """Pick a day and a provider; the providers listed are those with visits that day."""
    require_screen(request, Screen.PRINTING)
    settings: Settings = request.app.state.settings
    asked = request.query_params.get("date")
    day = parse_date(asked) if asked else settings.today()
    if day is None:
        return staff_form(request, settings.today(), [], "Enter the date as YYYY-MM-DD.", status_code=400)
    providers = await run_db(request, printing.practitioners_on, settings, day)
    return staff_form(request, day, providers, None)


def staff_form(
    request: Request,
    day: date,
    providers: list[tuple[str, str]],
    message: str | None,
    *,
    status_code: int = 200,
) -> Response:
    context = {"day": day, "providers": providers, "message": message}
    return render(request, "staff/print.html", context, status_code=status_code)


async def staff_print_day(request: Request) -> Response:
    """All the day's visit summaries (or one provider's) as one PDF, one patient per page."""
    require_screen(request, Screen.PRINTING)
    settings: Settings = request.app.state.settings
    async with request.form(max_fields=10) as form:
        day = parse_date(str(form.get("date", ""))[:20])
        provider = str(form.get("provider", "")).strip()[:64] or None
        show_providers = form.get("show") == "providers"
    if day is None:
        return staff_form(request, settings.today(), [], "Enter the date as YYYY-MM-DD.", status_code=400)
    if show_providers:  # the form's other button: list that day's providers, print nothing
        providers = await run_db(request, printing.practitioners_on, settings, day)
        return staff_form(request, day, providers, None)
    summaries = await run_db(request, printing.print_or_queue_day, asker(request), settings, day, provider)
    if isinstance(summaries, PrintJob):
        return RedirectResponse(request.url_for("print_job_page", job=summaries.public_id), status_code=303)
    if not summaries:
        providers = await run_db(request, printing.practitioners_on, settings, day)
        return staff_form(request, day, providers, "No visits to print for that day.", status_code=404)
    return pdf_response(await render_pdf(request, summaries), "visit-summaries.pdf")


async def staff_print_visit(request: Request) -> Response:
    """One visit's summary, by the encounter's id in the EHR."""
    require_screen(request, Screen.PRINTING)
    settings: Settings = request.app.state.settings
    async with request.form(max_fields=10) as form:
        encounter_fhir_id = str(form.get("encounter", "")).strip()[:64]
    summary = (
        await run_db(request, printing.print_encounter, asker(request), settings, encounter_fhir_id)
        if encounter_fhir_id
        else None
    )
    if summary is None:
        return staff_form(
            request, settings.today(), [], "No visit has that ID. Check it in the EHR.", status_code=404
        )
    return pdf_response(await render_pdf(request, [summary]), "visit-summary.pdf")


async def _own_job(request: Request) -> PrintJob:
    staff = require_screen(request, Screen.PRINTING)
    assert staff.id is not None
    job = await run_db(request, printing.job_of, request.path_params["job"], owner_person_id=staff.id)
    if job is None:
        raise HTTPException(404)
    return job


async def print_job_page(request: Request) -> Response:
    """A large batch's progress; the page reloads itself until the PDF is ready (no JavaScript)."""
    job = await _own_job(request)
    return render(request, "staff/print_job.html", {"job": job}, headers={"Cache-Control": "no-store"})


async def print_job_download(request: Request) -> Response:
    """A finished job's PDF; each download is audited for every patient in it."""
    require_screen(request, Screen.PRINTING)
    pdf = await run_db(request, printing.job_pdf, asker(request), request.path_params["job"])
    if pdf is None:
        raise HTTPException(404)  # after the commit: a refused download stays in the log
    return pdf_response(pdf, "visit-summaries.pdf")


routes = [
    Route("/p/{patient}/print", print_page, name="print_page"),
    Route("/p/{patient}/print/summary", record_summary_download, name="record_summary_download"),
    Route(
        "/p/{patient}/print/immunizations", immunization_record_download, name="immunization_record_download"
    ),
    Route("/p/{patient}/print/visit/{encounter}", visit_summary_download, name="visit_summary_download"),
    Route("/staff/print", staff_print_page, name="staff_print_page"),
    Route("/staff/print/day", staff_print_day, methods=["POST"], name="staff_print_day"),
    Route("/staff/print/visit", staff_print_visit, methods=["POST"], name="staff_print_visit"),
    Route("/staff/print/jobs/{job}", print_job_page, name="print_job_page"),
    Route("/staff/print/jobs/{job}/pdf", print_job_download, name="print_job_download"),
]
