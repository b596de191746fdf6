"""The patient's record pages under /p/{patient}/...: summary, results, medications, allergies, health
issues, immunizations, visits, notes and growth, plus "Download my record".

Each view opens the chart with `open_chart_or_404` (access check, load, one audit event, one transaction)
and renders; what a page shows is decided in services/record_pages.py and services/records.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlmodel import Session
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from portal import i18n
from portal.config import Settings
from portal.db import run_db
from portal.models.base import utcnow
from portal.models.people import Patient, StaffRole
from portal.security.sessions import require_person, require_staff
from portal.services import access, education, record_pages, records
from portal.services.access import Area, Look
from portal.services.record_pages import Viewer
from portal.templating import render
from portal.views.chart import (
    OpenChart,
    chart_context,
    open_chart_or_404,
    read_chart_or_404,
    rules_of,
    where,
)


def learn_more(item: Any) -> str | None:
    """The plain-language education link for a coded problem, medicine or test, in the reader's language."""
    return education.learn_more_url(item.code_system, item.code, item.display, language=i18n.current_locale())


def page_context(request: Request, chart: OpenChart, section: str, **context: Any) -> dict[str, Any]:
    settings: Settings = request.app.state.settings
    return chart_context(
        chart, section=section, tz=settings.clinic_timezone, learn_more=learn_more, **context
    )


async def open_page(
    request: Request, load: Callable[[Session, Patient, Viewer], Any], resource_type: str, **options: Any
) -> OpenChart:
    """Open the chart for a record page, loading with the viewer's release and confidentiality rules."""
    now = utcnow()
    return await open_chart_or_404(
        request,
        options.pop("area", Area.RECORD),
        lambda session, patient, decision: load(session, patient, Viewer.of(decision, now)),
        resource_type=resource_type,
        **options,
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
    person = require_person(request)
    settings: Settings = request.app.state.settings
    today, rules = settings.today(), rules_of(settings)

    def load(session: Session, patient: Patient, viewer: Viewer) -> Any:
        # The banner is open to every member of staff; the record itself only to those who may read it.
        record = access.decide(session, person, patient, Area.RECORD, today=today, rules=rules)
        if not record.allowed:
            return False
        return record_pages.summary(session, patient.id or 0, Viewer.of(record, viewer.now))

    chart = await open_page(request, load, "Summary", area=Area.DEMOGRAPHICS)
    return render(request, "records/summary.html", page_context(request, chart, "summary"))


async def results_page(request: Request) -> Response:
    number = page_number(request)
    chart = await read_chart_or_404(
        request, Look(Area.RECORD, "DiagnosticReport"), record_pages.results_page, number
    )
    return render(request, "records/results.html", page_context(request, chart, "results"))


async def report_page(request: Request) -> Response:
    public_id = request.path_params["report"]
    chart = await open_page(
        request,
        lambda session, patient, viewer: record_pages.report_page(
            session, patient.id or 0, public_id, viewer
        ),
        "DiagnosticReport",
        resource_id=public_id,
    )
    return render(request, "records/report.html", page_context(request, chart, "results"))


async def result_page(request: Request) -> Response:
    public_id = request.path_params["result"]
    chart = await open_page(
        request,
        lambda session, patient, viewer: record_pages.result_history_page(
            session, patient.id or 0, public_id, viewer
        ),
        "Observation",
        resource_id=public_id,
    )
    return render(request, "records/result.html", page_context(request, chart, "results"))


def simple_page(section: str, resource_type: str, query: Callable[..., Any]) -> Any:
    """A list page: one records query for this patient, with the viewer's confidentiality rule."""

    async def view(request: Request) -> Response:
        chart = await open_page(
            request,
            lambda session, patient, viewer: query(
                session, patient.id or 0, include_confidential=viewer.include_confidential
            ),
            resource_type,
        )
        return render(request, f"records/{section}.html", page_context(request, chart, section))

    view.__name__ = f"{section}_page"
    return view


medications_page = simple_page("medications", "MedicationRequest", records.medications)
allergies_page = simple_page("allergies", "AllergyIntolerance", records.allergies)
problems_page = simple_page("problems", "Condition", records.conditions)
immunizations_page = simple_page("immunizations", "Immunization", records.immunizations)


def paged_page(section: str, resource_type: str, query: Callable[..., Any], *, per_page: int = 20) -> Any:
    """A long list page: one page of a records query, newest first, with a "more" link when there is more."""

    async def view(request: Request) -> Response:
        number = page_number(request)

        def load(session: Session, patient: Patient, viewer: Viewer) -> Any:
            found = query(
                session,
                patient.id or 0,
                include_confidential=viewer.include_confidential,
                limit=per_page + 1,
                offset=(number - 1) * per_page,
            )
            return record_pages.Page(found[:per_page], number, len(found) > per_page)

        chart = await open_page(request, load, resource_type)
        return render(request, f"records/{section}.html", page_context(request, chart, section))

    view.__name__ = f"{section}_page"
    return view


def item_page(
    section: str, template: str, parameter: str, resource_type: str, query: Callable[..., Any]
) -> Any:
    """A page about one item, named by its public id; another patient's item is not found."""

    async def view(request: Request) -> Response:
        public_id = request.path_params[parameter]
        chart = await open_page(
            request,
            lambda session, patient, viewer: query(
                session, patient.id or 0, public_id, include_confidential=viewer.include_confidential
            ),
            resource_type,
            resource_id=public_id,
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
    today = settings.today()
    chart = await open_page(
        request,
        lambda session, patient, viewer: record_pages.growth_page(session, patient, viewer, today=today),
        "Growth",
    )
    return render(request, "records/growth.html", page_context(request, chart, "growth"))


async def record_download(request: Request) -> Response:
    """The whole record as a FHIR R4 Bundle file; audited as a download. Not offered to a limited view."""
    chart = await open_page(
        request, record_pages.record_bundle, "Patient", action="download", resource_id=None
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
    require_staff(request, StaffRole.CLINICIAN)
    return render_holds(request, await run_db(request, record_pages.holds_screen))


async def result_hold_update(request: Request) -> Response:
    """Set (or change) a category's hold; a bad form changes nothing and says why."""
    person = require_staff(request, StaffRole.CLINICIAN)
    async with request.form(max_fields=10) as form:
        category = str(form.get("category", "")).strip()[:64]
        reason = str(form.get("reason", "")).strip()[:2000]
        hours = str(form.get("hours", "")).strip()
    provenance = where(request)

    def change(session: Session) -> tuple[str | None, record_pages.HoldsScreen]:
        try:
            hold_hours = int(hours)
            record_pages.hold_category(
                session,
                category=category,
                hold_hours=hold_hours,
                reason=reason,
                person=person,
                where=provenance,
            )
        except ValueError as problem:
            # set_hold checks its input before it writes anything, so there is nothing to undo
            message = str(problem) if hours.isdigit() else "give the hold's length in whole hours"
            return message, record_pages.holds_screen(session)
        return None, record_pages.holds_screen(session)

    message, screen = await run_db(request, change)
    return render_holds(request, screen, message=message, done=None if message else f"{category} is held.")


async def result_hold_delete(request: Request) -> Response:
    person = require_staff(request, StaffRole.CLINICIAN)
    async with request.form(max_fields=10) as form:
        category = str(form.get("category", "")).strip()[:64]
    provenance = where(request)

    def change(session: Session) -> tuple[bool, record_pages.HoldsScreen]:
        cleared = record_pages.release_category(session, category=category, person=person, where=provenance)
        return cleared, record_pages.holds_screen(session)

    cleared, screen = await run_db(request, change)
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
