"""A patient's appointments under /p/{patient}/appointments: the list, booking (visit type, then a day's
time buttons), the confirmation, the calendar file, cancelling, rescheduling, requests and the wait list.

Pages read through the door with `read_chart_or_404`; changes go through `access.acting` (decision,
change and audit event in one transaction). Services refuse with codes; `REFUSALS` puts them into words.
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
from portal.security.sessions import Client
from portal.services import access
from portal.services.access import Area, Look
from portal.services.errors import Refused
from portal.services.registration import first_visit
from portal.services.scheduling import booking, pages, waitlist
from portal.services.scheduling.notices import Clinic
from portal.templating import render
from portal.views.chart import OpenChart, asker, chart_context, read_chart_or_404

MAX_FIELDS = 12
REFUSALS: dict[str, str] = {
    "choose_type": N_("Please choose the kind of visit."),
    "choose_time": N_("Please choose a time."),
    "slot_taken": N_("Sorry, someone just took that time. Please choose one of the next open times."),
    "not_bookable_online": N_("This kind of visit can't be booked online. Please ask for it below."),
    "say_preferred": N_("Please tell us which days and times suit you."),
    "inside_notice": N_("It is too close to the visit to change it online. Please call us at %(phone)s."),
    "cannot_cancel": N_("This visit can't be changed online. Please call us at %(phone)s."),
    "not_found": N_("That visit could not be found."),
    "offer_gone": N_("Sorry, this earlier time is no longer open. You keep your visit."),
}
FALLBACK = N_("That could not be done. Please try again.")


def say(refused: Refused) -> str:
    return gettext(REFUSALS.get(refused.code, FALLBACK)) % {"phone": refused.params.get("phone", "")}


def clinic_of(request: Request) -> Clinic:
    settings: Settings = request.app.state.settings
    return Clinic.of(settings)


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value).strip()[:2000] for key, value in form.items() if isinstance(value, str)}


def _context(request: Request, chart: OpenChart, **more: Any) -> dict[str, Any]:
    clinic = clinic_of(request)
    return chart_context(chart, section="appointments", tz=clinic.tz.key, clinic_phone=clinic.phone, **more)


async def _act(request: Request, look: Look, action: Any, *args: Any) -> access.Acted[Any]:
    acted = await run_db(
        request, access.acting(asker(request), request.path_params["patient"], look, action, *args)
    )
    if acted is None:
        raise HTTPException(404)  # after the commit: the denied attempt stays in the log
    return acted


# ------------------------------------------------------------------------------------------ pages


async def appointments_page(request: Request) -> Response:
    chart = await read_chart_or_404(
        request, Look(Area.APPOINTMENTS, "Appointment"), pages.appointments_page, clinic_of(request)
    )
    return render(request, "appointments/list.html", _context(request, chart))


async def _booking_page(
    request: Request,
    code: str,
    replaces: str | None,
    *,
    message: str | None = None,
    status: int = 200,
    form: dict[str, str] | None = None,
    from_request: str | None = None,
) -> Response:
    look = Look(Area.APPOINTMENTS, "Slot", replaces)
    from_request = from_request or (form or {}).get("request", "")[:32] or None
    chart = await read_chart_or_404(
        request, look, booking.booking_page, clinic_of(request), code, replaces, from_request
    )
    return render(
        request,
        "appointments/book.html",
        _context(request, chart, message=message, form=form or {}),
        status_code=status,
    )


async def appointment_book_page(request: Request) -> Response:
    code = request.query_params.get("type", "")[:40]
    replaces = request.query_params.get("replaces", "")[:32] or None
    from_request = request.query_params.get("request", "")[:32] or None
    return await _booking_page(request, code, replaces, from_request=from_request)


async def appointment_book(request: Request) -> Response:
    form = await _form(request)
    wanted = booking.Booking(
        code=form.get("type", "")[:40],
        time_key=form.get("time", "")[:80],
        reason=form.get("reason", ""),
        replaces=form.get("replaces", "")[:32] or None,
        request=form.get("request", "")[:32] or None,
    )
    acted = await _act(
        request,
        Look(Area.APPOINTMENTS, "Appointment", action="create"),
        first_visit.book,
        clinic_of(request),
        wanted,
        Client.of(request),
    )
    if acted.refused is not None:
        status = 409 if acted.refused.code == "slot_taken" else 400
        return await _booking_page(
            request, wanted.code, wanted.replaces, message=say(acted.refused), status=status, form=form
        )
    made = acted.data
    assert isinstance(made, booking.Booked)
    if made.activation_code is not None:
        return await _first_visit_confirmation(request, made)
    target = request.url_for(
        "appointment_page", patient=request.path_params["patient"], appointment=made.appointment.public_id
    )
    return RedirectResponse(f"{target}?booked=1", status_code=303)


async def _first_visit_confirmation(request: Request, made: booking.Booked) -> Response:
    """The desk's confirmation of a first visit, with the patient's activation code: shown in this answer
    only (never in a URL to redirect to, never in mail)."""
    public_id = made.appointment.public_id
    chart = await _read_appointment(request, public_id)
    context = _context(request, chart, booked=True, message=None, activation_code=made.activation_code)
    return render(request, "appointments/item.html", context)


async def appointment_request(request: Request) -> Response:
    form = await _form(request)
    acted = await _act(
        request,
        Look(Area.APPOINTMENTS, "AppointmentRequest", action="create"),
        booking.request_visit,
        form.get("type", "")[:40],
        form.get("preferred", "")[:500],
        form.get("reason", ""),
    )
    if acted.refused is not None:
        return await _booking_page(
            request, form.get("type", "")[:40], None, message=say(acted.refused), status=400, form=form
        )
    chart = await read_chart_or_404(
        request, Look(Area.APPOINTMENTS, "Appointment"), pages.appointments_page, clinic_of(request)
    )
    return render(request, "appointments/list.html", _context(request, chart, requested=True))


async def _read_appointment(request: Request, public_id: str) -> Any:
    """One appointment's page, read through the door (shown, asked about before cancelling, or again
    after a refused change)."""
    return await read_chart_or_404(
        request,
        Look(Area.APPOINTMENTS, "Appointment", public_id),
        pages.appointment_page,
        clinic_of(request),
        public_id,
    )


async def appointment_page(request: Request) -> Response:
    public_id = request.path_params["appointment"]
    chart = await _read_appointment(request, public_id)
    return render(
        request,
        "appointments/item.html",
        _context(request, chart, booked=request.query_params.get("booked") == "1", message=None),
    )


async def appointment_calendar(request: Request) -> Response:
    public_id = request.path_params["appointment"]
    chart = await read_chart_or_404(
        request,
        Look(Area.APPOINTMENTS, "Appointment", public_id, action="download"),
        pages.calendar_file,
        clinic_of(request),
        public_id,
    )
    return Response(
        chart.data,
        media_type="text/calendar",
        headers={"Content-Disposition": 'attachment; filename="visit.ics"', "Cache-Control": "no-store"},
    )


async def appointment_cancel(request: Request) -> Response:
    public_id = request.path_params["appointment"]
    form = await _form(request)
    if form.get("confirm") != "yes":  # the first tap asks "are you sure?"
        chart = await _read_appointment(request, public_id)
        return render(request, "appointments/cancel.html", _context(request, chart, message=None))
    acted = await _act(
        request,
        Look(Area.APPOINTMENTS, "Appointment", public_id, "update"),
        waitlist.cancel,  # a cancellation opens a time to offer
        clinic_of(request),
        public_id,
        form.get("reason", "")[:300],
    )
    if acted.refused is not None:
        chart = await _read_appointment(request, public_id)
        return render(
            request,
            "appointments/item.html",
            _context(request, chart, booked=False, message=say(acted.refused)),
            status_code=400,
        )
    return RedirectResponse(
        f"{request.url_for('appointments_page', patient=request.path_params['patient'])}?cancelled=1",
        status_code=303,
    )


async def _visit_page(
    request: Request, public_id: str, *, message: str | None = None, **more: Any
) -> Response:
    chart = await _read_appointment(request, public_id)
    context = _context(request, chart, booked=False, message=message, **more)
    return render(request, "appointments/item.html", context, status_code=400 if message else 200)


async def appointment_confirm(request: Request) -> Response:
    """ "I will come", from the reminder's link."""
    public_id = request.path_params["appointment"]
    look = Look(Area.APPOINTMENTS, "Appointment", public_id, "update")
    acted = await _act(request, look, booking.confirm, clinic_of(request), public_id)
    if acted.refused is not None:
        return await _visit_page(request, public_id, message=say(acted.refused))
    return await _visit_page(request, public_id, confirmed=True)


async def appointment_earlier(request: Request) -> Response:
    """Join the wait list for an earlier time of this visit."""
    public_id = request.path_params["appointment"]
    look = Look(Area.APPOINTMENTS, "Appointment", public_id, "update")
    acted = await _act(request, look, waitlist.ask_earlier, clinic_of(request), public_id)
    if acted.refused is not None:
        return await _visit_page(request, public_id, message=say(acted.refused))
    return await _visit_page(request, public_id, waiting=True)


async def offer_page(request: Request, *, message: str | None = None, status: int = 200) -> Response:
    public_id = request.path_params["offer"]
    chart = await read_chart_or_404(
        request, Look(Area.APPOINTMENTS, "Slot", public_id), waitlist.offer_page, public_id
    )
    context = _context(request, chart, message=message)
    return render(request, "appointments/offer.html", context, status_code=status)


async def offer_accept(request: Request) -> Response:
    public_id = request.path_params["offer"]
    look = Look(Area.APPOINTMENTS, "Appointment", public_id, "create")
    acted = await _act(request, look, waitlist.accept, clinic_of(request), public_id)
    if acted.refused is not None:
        status = 409 if acted.refused.code in ("slot_taken", "offer_gone") else 400
        refused = Refused("offer_gone") if acted.refused.code == "slot_taken" else acted.refused
        return await offer_page(request, message=say(refused), status=status)
    made = acted.data
    assert isinstance(made, booking.Booked)
    if made.activation_code is not None:
        return await _first_visit_confirmation(request, made)
    target = request.url_for(
        "appointment_page", patient=request.path_params["patient"], appointment=made.appointment.public_id
    )
    return RedirectResponse(f"{target}?booked=1", status_code=303)


routes = [
    Route("/p/{patient}/appointments", appointments_page, name="appointments_page"),
    Route("/p/{patient}/appointments/book", appointment_book_page, name="appointment_book_page"),
    Route("/p/{patient}/appointments/book", appointment_book, methods=["POST"], name="appointment_book"),
    Route(
        "/p/{patient}/appointments/request", appointment_request, methods=["POST"], name="appointment_request"
    ),
    Route("/p/{patient}/appointments/offers/{offer}", offer_page, name="offer_page"),
    Route(
        "/p/{patient}/appointments/offers/{offer}/accept", offer_accept, methods=["POST"], name="offer_accept"
    ),
    Route("/p/{patient}/appointments/{appointment}", appointment_page, name="appointment_page"),
    Route(
        "/p/{patient}/appointments/{appointment}/confirm",
        appointment_confirm,
        methods=["POST"],
        name="appointment_confirm",
    ),
    Route(
        "/p/{patient}/appointments/{appointment}/earlier",
        appointment_earlier,
        methods=["POST"],
        name="appointment_earlier",
    ),
    Route(
        "/p/{patient}/appointments/{appointment}/calendar", appointment_calendar, name="appointment_calendar"
    ),
    Route(
        "/p/{patient}/appointments/{appointment}/cancel",
        appointment_cancel,
        methods=["POST"],
        name="appointment_cancel",
    ),
]
