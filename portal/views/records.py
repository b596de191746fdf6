"""The patient's record pages under /p/{patient}/...: summary, results, medications, allergies, health
issues, immunizations, visits, notes and growth, plus "Download my record".

Each view reads the chart with `read_chart_or_404(request, Look(...), reader, ...)`: one transaction holds
the access decision, the reader (a service function taking the patient scope) and one audit event. What
a page shows is decided in services/record_pages.py and services/records.py, through the one visibility
rule in services/visibility.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.config import Settings
from portal.db import run_db
from portal.services import education, record_pages, records
from portal.services.access import Area, Look, Screen
from portal.services.errors import Refused
from portal.templating import render
from portal.views.chart import OpenChart, chart_context, read_chart_or_404, require_screen, where


def learn_more(item: Any) -> str | None:
    """The plain-language education link for a coded problem, medicine or test, in the reader's language."""
    return education.learn_more_url(item.code_system, item.code, item.display, language=i18n.current_locale())


def page_context(request: Request, chart: OpenChart, section: str, **context: Any) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return chart_context(
        chart, section=section, tz=settings.clinic_timezone, learn_more=learn_more, **context
    )


def page_number(request: Request) -> int:
    try:
        number = int(request.query_params.get("page", "1"))
    except ValueError:
        raise HTTPException(400) from None
    if not 1 <= number <= 10_000:
        raise HTTPException(400)
    return number


async def summary_page(request: Request) -> Response:
    # The banner is open to every member of staff; the record part only when the same decision allows it.
    chart = await read_chart_or_404(request, Look(Area.DEMOGRAPHICS, "Summary"), record_pages.summary)
    return render(request, "records/summary.html", page_context(request, chart, "summary"))


async def results_page(request: Request) -> Response:
    number = page_number(request)
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "DiagnosticReport"), record_pages.results_page, number
    )
    return render(request, "records/results.html", page_context(request, chart, "results"))


async def report_page(request: Request) -> Response:
    public_id = request.path_params["report"]
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "DiagnosticReport", public_id), record_pages.report_page, public_id
    )
    return render(request, "records/report.html", page_context(request, chart, "results"))


async def result_page(request: Request) -> Response:
    public_id = request.path_params["result"]
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "Observation", public_id), record_pages.result_history_page, public_id
    )
    return render(request, "records/result.html", page_context(request, chart, "results"))


def simple_page(section: str, resource_type: str, reader: Callable[..., Any]) -> Any:
    """A list page: one records reader for this patient's scope."""

    async def view(request: Request) -> Response:
        chart = await read_chart_or_404(request, Look(Area.RECORD, resource_type), reader)
        return render(request, f"records/{section}.html", page_context(request, chart, section))

    view.__name__ = f"{section}_page"
    return view


medications_page = simple_page("medications", "MedicationRequest", records.medications)
allergies_page = simple_page("allergies", "AllergyIntolerance", records.allergies)
problems_page = simple_page("problems", "Condition", records.conditions)
immunizations_page = simple_page("immunizations", "Immunization", records.immunizations)


def paged_page(section: str, resource_type: str, query: record_pages.PagedQuery) -> Any:
    """A long list page: one page of a records query, newest first, with a "more" link when there is more."""

    async def view(request: Request) -> Response:
        number = page_number(request)
        chart = await read_chart_or_404(
            request, Look(Area.RECORD, resource_type), record_pages.list_page, query, number
        )
        return render(request, f"records/{section}.html", page_context(request, chart, section))

    view.__name__ = f"{section}_page"
    return view


def item_page(
    section: str, template: str, parameter: str, resource_type: str, reader: Callable[..., Any]
) -> Any:
    """A page about one item, named by its public id; another patient's item is not found."""

    async def view(request: Request) -> Response:
        public_id = request.path_params[parameter]
        chart = await read_chart_or_404(
            request, Look(Area.RECORD, resource_type, public_id), reader, public_id
        )
        return render(request, f"records/{template}.html", page_context(request, chart, section))

    view.__name__ = f"{template}_page"
    return view


visits_page = paged_page("visits", "Encounter", records.encounters)
visit_page = item_page("visits", "visit", "visit", "Encounter", records.encounter_detail)
documents_page = paged_page("documents", "DocumentReference", records.documents)
document_page = item_page("documents", "document", "document", "DocumentReference", records.document)


async def growth_page(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "Growth"), record_pages.growth_page, today=settings.today()
    )
    return render(request, "records/growth.html", page_context(request, chart, "growth"))


async def record_download(request: Request) -> Response:
    """The record as a FHIR R4 Bundle file; audited as a download. Not offered to a limited view."""
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "Patient", action="download"), record_pages.record_bundle
    )
    body = json.dumps(chart.data, ensure_ascii=False, indent=1)
    return Response(
        body,
        media_type="application/fhir+json",
        headers={
            "Content-Disposition": 'attachment; filename="record.json"',
            "Cache-Control": "no-store",
        },
    )


# Release holds: clinicians only ---------------------------------------------------------------------


def render_holds(
    request: Request,
    screen: record_pages.HoldsScreen,
    *,
    message: str | None = None,
    done: str | None = None,
) -> Response:
    settings: Settings = request.app.state.settings
    context = {"screen": screen, "message": message, "done": done, "tz": settings.clinic_timezone}
    return render(request, "clinician/result_holds.html", context, status_code=400 if message else 200)


async def result_holds_page(request: Request) -> Response:
    require_screen(request, Screen.RESULT_HOLDS)
    return render_holds(request, await run_db(request, record_pages.holds_screen))


# The holds screen's words for the service's refusals (a clinician's screen: English).
HOLD_REFUSALS = {
    "hold_category_missing": "Name the category to hold.",
    "hold_hours_not_whole": "Give the hold's length in whole hours.",
    "hold_hours_out_of_range": "A hold lasts from 1 to {most} hours.",
    "hold_reason_missing": "Give the reason for the hold (at least a short sentence).",
}


def hold_refusal(refused: Refused) -> str:
    return HOLD_REFUSALS[refused.code].format(**refused.params)


async def result_hold_update(request: Request) -> Response:
    """Set (or change) a category's hold; a bad form changes nothing and says why."""
    person = require_screen(request, Screen.RESULT_HOLDS)
    async with request.form(max_fields=10) as form:
        category = str(form.get("category", "")).strip()[:64]
        reason = str(form.get("reason", "")).strip()[:2000]
        hours = str(form.get("hours", "")).strip()
    refused, screen = await run_db(
        request,
        record_pages.hold_from_form,
        category=category,
        hours=hours,
        reason=reason,
        person=person,
        where=where(request),
    )
    message = hold_refusal(refused) if refused else None
    return render_holds(request, screen, message=message, done=None if message else f"{category} is held.")


async def result_hold_delete(request: Request) -> Response:
    person = require_screen(request, Screen.RESULT_HOLDS)
    async with request.form(max_fields=10) as form:
        category = str(form.get("category", "")).strip()[:64]
    cleared, screen = await run_db(
        request, record_pages.release_from_form, category=category, person=person, where=where(request)
    )
    if not cleared:
        return render_holds(request, screen, message="That category was not held.")
    return render_holds(request, screen, done=f"{category}: results are released as soon as they are issued.")


routes = [
    Route("/p/{patient}/summary", summary_page, name="summary_page"),
    Route("/p/{patient}/results", results_page, name="results_page"),
    Route("/p/{patient}/results/{result}", result_page, name="result_page"),
    Route("/p/{patient}/reports/{report}", report_page, name="report_page"),
    Route("/p/{patient}/medications", medications_page, name="medications_page"),
    Route("/p/{patient}/allergies", allergies_page, name="allergies_page"),
    Route("/p/{patient}/problems", problems_page, name="problems_page"),
    Route("/p/{patient}/immunizations", immunizations_page, name="immunizations_page"),
    Route("/p/{patient}/visits", visits_page, name="visits_page"),
    Route("/p/{patient}/visits/{visit}", visit_page, name="visit_page"),
    Route("/p/{patient}/documents", documents_page, name="documents_page"),
    Route("/p/{patient}/documents/{document}", document_page, name="document_page"),
    Route("/p/{patient}/growth", growth_page, name="growth_page"),
    Route("/p/{patient}/download", record_download, methods=["POST"], name="record_download"),
    Route("/clinic/result-holds", result_holds_page, name="result_holds_page"),
    Route("/clinic/result-holds", result_hold_update, methods=["POST"], name="result_hold_update"),
    Route("/clinic/result-holds/clear", result_hold_delete, methods=["POST"], name="result_hold_delete"),
]
