"""The billing office's screens (Screen.BILLING): the account search, a patient's ledger, and its changes:
a payment taken at the desk or by phone, a refund, a write-off, a payment plan.

The search is the one audited patient search; the ledger and every change go through the door
(Area.BILLING), where the billing service refuses anyone not on the billing screen ("staff_only", a 404
here, as for a chart they may not open).
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal import forms
from portal.db import run_db
from portal.services import access, patient_search
from portal.services.access import Area, Look, Screen
from portal.services.billing import plans, reconcile, staff
from portal.services.billing.money import dollars, parse_cents
from portal.services.errors import Refused
from portal.templating import render
from portal.views.auth import parse_birth_date
from portal.views.billing import _form, _settings, processor_of
from portal.views.chart import asker, chart_context, read_chart_or_404, require_screen, where

LEDGER = Look(Area.BILLING, "Account")
STAFF_WORDS = {
    "bad_amount": "Enter an amount in dollars and cents, like 25.00.",
    "bad_method": "Choose cash, cheque or card.",
    "more_than_due": "That is more than the balance.",
    "more_than_paid": "That is more than is left of this payment.",
    "not_paid": "Only a paid payment can be refunded.",
    "nothing_due": "There is no balance to put on a plan.",
    "plan_exists": "This account already has an active plan.",
    "plan_months": f"A plan runs {plans.MIN_MONTHS} to {plans.MAX_MONTHS} months.",
    "plan_instalment_too_small": f"Each instalment must be at least {dollars(plans.MIN_INSTALMENT_CENTS)}.",
    "bad_first_due": "The first instalment is due between today and 60 days from now.",
    "reason_missing": "Give the reason for the write-off.",
    "reason_too_long": f"Keep the reason under {staff.MAX_REASON} characters.",
    "form_expired": "This form was already used. Look at the ledger, then try again.",
    "payments_off": "No card processor is set up: take cash or a cheque.",
    "processor_unavailable": "This payment's processor is not set up here: refund it at the processor.",
    "amount_too_small": "The smallest card payment is $1.00.",
}


async def accounts_page(request: Request) -> Response:
    require_screen(request, Screen.BILLING)
    return render(request, "staff/billing_accounts.html", {"results": None, "form": {}, "message": None})


async def accounts_search(request: Request) -> Response:
    """Find an account by the EHR id, or a name and the date of birth (sent by POST: names stay out of
    URLs); every patient shown is audited by the search."""
    person = require_screen(request, Screen.BILLING)
    form = await _form(request)
    query = patient_search.Query(
        fhir_id=form.get("fhir_id", "")[:64],
        name=form.get("name", ""),
        birth_date=parse_birth_date(form.get("birth_date")),
    )
    try:
        results = await run_db(
            request, patient_search.search, person, query, screen=Screen.BILLING, provenance=where(request)
        )
    except Refused:
        context = {
            "results": None,
            "form": form,
            "message": "Enter the patient's ID, or a name and birth date.",
        }
        return render(request, "staff/billing_accounts.html", context, status_code=400)
    return render(request, "staff/billing_accounts.html", {"results": results, "form": form, "message": None})


async def ledger_page(request: Request, message: str | None = None, status_code: int = 200) -> Response:
    chart = await read_chart_or_404(request, LEDGER, staff.ledger_page)
    context: dict[str, Any] = chart_context(
        chart,
        section="billing",
        dollars=dollars,
        tz=_settings(request).clinic_timezone,
        form_key=secrets.token_urlsafe(24),
        message=message,
        processor=processor_of(request),
        methods=staff.DESK_METHODS,
        plan_months=range(plans.MIN_MONTHS, plans.MAX_MONTHS + 1),
    )
    return render(request, "staff/billing_ledger.html", context, status_code=status_code)


async def ledger_view(request: Request) -> Response:
    return await ledger_page(request)


async def _done(request: Request, acted: access.Acted[Any] | None, goto: str | None = None) -> Response:
    if acted is None or (acted.refused is not None and acted.refused.code == "staff_only"):
        raise HTTPException(404)
    if acted.refused is not None:
        words = STAFF_WORDS.get(acted.refused.code, "That could not be done.")
        return await ledger_page(request, words, 400)
    return RedirectResponse(goto or f"/p/{request.path_params['patient']}/billing/ledger", status_code=303)


def _amount(form: dict[str, str]) -> int | Refused:
    try:
        return parse_cents(form.get("amount", ""))
    except Refused as refused:
        return refused


async def _refused_before(request: Request, refused: Refused, look: Look) -> Response:
    """A form refused before the door (a bad amount): asked through the door all the same, so a stranger
    still gets a 404 and the refusal an audit event."""
    acted: access.Acted[bool] | None = await run_db(
        request, access.acting(asker(request), request.path_params["patient"], look, staff.refuse, refused)
    )
    return await _done(request, acted)


async def desk_payment(request: Request) -> Response:
    form = await _form(request)
    patient = request.path_params["patient"]
    look = Look(Area.BILLING, "PaymentNotice", action="pay")
    amount = _amount(form)
    if isinstance(amount, Refused):
        return await _refused_before(request, amount, look)
    return_to = _settings(request).origin + f"/p/{patient}/billing/ledger"
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            patient,
            look,
            staff.record_desk_payment,
            processor_of(request),
            form.get("method", ""),
            amount,
            form.get("key", ""),
            return_to,
        ),
    )
    url = acted.data.checkout_url if acted is not None and acted.data is not None else None
    return await _done(request, acted, url)


async def refund(request: Request) -> Response:
    form = await _form(request)
    payment = request.path_params["payment"]
    look = Look(Area.BILLING, "PaymentNotice", payment, action="refund")
    if not forms.ID_PATTERN.fullmatch(payment):
        raise HTTPException(404)
    amount = _amount(form)
    if isinstance(amount, Refused):
        return await _refused_before(request, amount, look)
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            request.path_params["patient"],
            look,
            staff.refund,
            processor_of(request),
            payment,
            amount,
            form.get("key", ""),
        ),
    )
    return await _done(request, acted)


async def write_off(request: Request) -> Response:
    form = await _form(request)
    look = Look(Area.BILLING, "Account", action="write-off")
    amount = _amount(form)
    if isinstance(amount, Refused):
        return await _refused_before(request, amount, look)
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            request.path_params["patient"],
            look,
            staff.write_off,
            amount,
            form.get("reason", ""),
            form.get("key", ""),
        ),
    )
    return await _done(request, acted)


async def plan(request: Request) -> Response:
    form = await _form(request)
    look = Look(Area.BILLING, "PaymentPlan", action="payment-plan")
    today = _settings(request).today()
    try:
        months = int(form.get("months", ""))
    except ValueError:
        return await _refused_before(request, Refused("plan_months"), look)
    typed = form.get("first_due", "")
    first_due = parse_birth_date(typed) if typed else _first_of_next_month(today)
    if first_due is None or not today <= first_due <= today + timedelta(days=60):
        return await _refused_before(request, Refused("bad_first_due"), look)
    acted = await run_db(
        request,
        access.acting(
            asker(request), request.path_params["patient"], look, staff.set_up_plan, months, first_due
        ),
    )
    return await _done(request, acted)


def _first_of_next_month(today: date) -> date:
    return (today.replace(day=1) + timedelta(days=32)).replace(day=1)


def _day(request: Request) -> Any:
    try:
        return forms.day(request.query_params.get("day")) or _settings(request).today()
    except forms.InputError:
        raise HTTPException(400) from None


async def reconciliation(request: Request) -> Response:
    """The clinic day's payments and refunds by processor id, with each processor's net."""
    person = require_screen(request, Screen.BILLING)
    day = _day(request)
    settings = _settings(request)
    report = await run_db(request, reconcile.daily, person, day, settings.timezone, where(request))
    context = {"report": report, "dollars": dollars, "tz": settings.clinic_timezone}
    return render(request, "staff/billing_reconciliation.html", context)


async def reconciliation_csv(request: Request) -> Response:
    person = require_screen(request, Screen.BILLING)
    day = _day(request)
    settings = _settings(request)
    report = await run_db(
        request, reconcile.daily, person, day, settings.timezone, where(request), action="export"
    )
    return Response(
        reconcile.report_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="payments-{day.isoformat()}.csv"',
            "Cache-Control": "no-store",
        },
    )


routes = [
    Route("/billing/reconciliation", reconciliation, name="billing_reconciliation"),
    Route("/billing/reconciliation.csv", reconciliation_csv, name="billing_reconciliation_csv"),
    Route("/billing/accounts", accounts_page, name="billing_accounts"),
    Route("/billing/accounts", accounts_search, methods=["POST"], name="billing_accounts_search"),
    Route("/p/{patient}/billing/ledger", ledger_view, name="billing_ledger"),
    Route("/p/{patient}/billing/desk-payment", desk_payment, methods=["POST"], name="billing_desk_payment"),
    Route("/p/{patient}/billing/payments/{payment}/refund", refund, methods=["POST"], name="billing_refund"),
    Route("/p/{patient}/billing/write-off", write_off, methods=["POST"], name="billing_write_off"),
    Route("/p/{patient}/billing/plan", plan, methods=["POST"], name="billing_plan"),
]
