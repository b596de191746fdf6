"""Bills for patients and guarantors under /p/{patient}/billing, the demo processor's hosted page, and the
processors' webhooks.

Pages read through the door (`read_chart_or_404`, Area.BILLING); paying starts through `access.acting`. A
payment is marked paid only by the processor's webhook (verified by its signature) or, for the demo, by
its own hosted page's signed event: the browser's return changes nothing.
"""

from __future__ import annotations

import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from portal import i18n
from portal.config import Settings
from portal.db import run_db
from portal.i18n import N_
from portal.models.base import utcnow
from portal.provenance import Provenance
from portal.services import access
from portal.services.access import Area, Look
from portal.services.billing import documents, pages, payments, processors
from portal.services.billing.money import dollars, parse_cents
from portal.services.errors import Refused
from portal.templating import leave_for, render
from portal.views.chart import OpenChart, asker, chart_context, read_chart_or_404, rules_of, where

ACCOUNT = Look(Area.BILLING, "Account")
MAX_FIELDS = 10

REFUSALS: dict[str, str] = {
    "bad_amount": N_("Please enter an amount in dollars and cents, like 25.00."),
    "amount_too_small": N_("The smallest payment is $1.00, unless you pay the whole balance."),
    "more_than_due": N_("That is more than you owe. Please enter a smaller amount."),
    "nothing_due": N_("There is nothing to pay right now."),
    "payments_off": N_("Paying online is not available. Please call the clinic to pay."),
    "form_expired": N_("This form was already used. Please look at your balance, then try again."),
}
FALLBACK = N_("That could not be done. Please try again.")


def say(refused: Refused) -> str:
    """The refusal's words, untranslated: the message template translates them when shown."""
    return REFUSALS.get(refused.code, FALLBACK)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def processor_of(request: Request) -> processors.Processor | None:
    return processors.configured(_settings(request))


def page_context(request: Request, chart: OpenChart, **context: Any) -> dict[str, Any]:
    processor = processor_of(request)
    return chart_context(
        chart,
        section="billing",
        dollars=dollars,
        month_name=documents.month_name,
        tz=_settings(request).clinic_timezone,
        pay_key=secrets.token_urlsafe(24),
        message=None,
        processor=processor,
        confidential_label=pages.CONFIDENTIAL_SERVICES,
        **context,
    )


async def billing_page(request: Request) -> Response:
    returned = request.query_params.get("payment")
    if returned is not None and not payments.KEY_PATTERN.match(returned):
        raise HTTPException(400)
    chart = await read_chart_or_404(request, ACCOUNT, pages.account, returned)
    return render(
        request, "billing/page.html", page_context(request, chart), fragment="billing/_account.html"
    )


async def _form(request: Request) -> dict[str, str]:
    async with request.form(max_fields=MAX_FIELDS) as form:
        return {key: str(value).strip()[:200] for key, value in form.items() if isinstance(value, str)}


async def billing_pay(request: Request) -> Response:
    """Start a payment of all or part of the balance at the processor's hosted page."""
    form = await _form(request)
    patient = request.path_params["patient"]
    base = _settings(request).origin + f"/p/{patient}/billing"
    try:
        amount = parse_cents(form.get("amount", "")) if form.get("how") == "part" else None
    except Refused as refused:
        return await _pay_refused(request, refused)
    acted = await run_db(
        request,
        access.acting(
            asker(request),
            patient,
            Look(Area.BILLING, "PaymentNotice", action="pay"),
            payments.start_for_balance,
            processor_of(request),
            amount,
            form.get("key", ""),
            base,
        ),
    )
    if acted is None:
        raise HTTPException(404)
    if acted.refused is not None or acted.data is None:
        return await _pay_refused(request, acted.refused or Refused("failed"))
    return leave_for(request, acted.data.url)


async def _pay_refused(request: Request, refused: Refused) -> Response:
    chart = await read_chart_or_404(request, ACCOUNT, pages.account, None)
    context = {**page_context(request, chart), "message": say(refused)}
    return render(request, "billing/page.html", context, status_code=400)


async def billing_statement(request: Request) -> Response:
    month = request.query_params.get("month")
    if month is not None and not documents.MONTH.match(month):
        raise HTTPException(400)
    look = Look(Area.BILLING, "Invoice", month, action="download")
    chart = await read_chart_or_404(request, look, documents.statement, month)
    pdf = await _pdf(request, chart.data)
    return pdf_response(pdf, f"statement-{chart.data.month}.pdf")


async def billing_receipt(request: Request) -> Response:
    public_id = request.path_params["payment"]
    look = Look(Area.BILLING, "PaymentNotice", public_id, action="download")
    chart = await read_chart_or_404(request, look, documents.receipt, public_id)
    return pdf_response(await _pdf(request, chart.data), "receipt.pdf")


async def _pdf(request: Request, document: documents.StatementDoc | documents.ReceiptDoc) -> bytes:
    env = request.app.state.templates.env
    settings = _settings(request)
    return await run_in_threadpool(documents.render_pdf, env, settings, document, lang=i18n.current_locale())


def pdf_response(pdf: bytes, filename: str) -> Response:
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"', "Cache-Control": "no-store"},
    )


# ------------------------------------------------------------------------ the processors' side


def _operator(request: Request, route: str) -> access.Operator:
    settings = _settings(request)
    here = where(request)
    return access.Operator(
        settings.today(),
        rules_of(settings),
        utcnow(),
        Provenance(route=route, client_address=here.client_address, request_id=here.request_id),
    )


async def stripe_webhook(request: Request) -> Response:
    """Stripe's webhook: verified by its signature, applied once per event id; a bad signature changes
    nothing."""
    processor = processor_of(request)
    if processor is None or processor.name != "stripe":
        raise HTTPException(404)
    payload = await request.body()
    try:
        event = processor.verify_event(payload, request.headers.get("stripe-signature"))
    except processors.BadSignature:
        return PlainTextResponse("bad signature", status_code=400)
    outcome = await run_db(
        request, payments.receive_event, _operator(request, "stripe_webhook"), "stripe", event
    )
    return PlainTextResponse(outcome)


async def demo_pay_page(request: Request) -> Response:
    """The demo processor's hosted page: says plainly that no money moves."""
    processor = processor_of(request)
    if not isinstance(processor, processors.DemoProcessor):
        raise HTTPException(404)
    found = await run_db(request, payments.pending_by_ref, "demo", request.path_params["ref"])
    if found is None:
        raise HTTPException(404)
    payment, patient_public_id = found
    back = "/billing/guest/done" if payment.channel == "guest" else f"/p/{patient_public_id}/billing"
    context = {"payment": payment, "dollars": dollars, "back": back}
    return render(request, "billing/demo_processor.html", context)


async def demo_pay_submit(request: Request) -> Response:
    """ "Pay" on the demo page: the demo processor sends its signed event, then the browser goes back."""
    processor = processor_of(request)
    if not isinstance(processor, processors.DemoProcessor):
        raise HTTPException(404)
    ref = request.path_params["ref"]
    found = await run_db(request, payments.pending_by_ref, "demo", ref)
    if found is None:
        raise HTTPException(404)
    payment, patient_public_id = found
    payload, signature = processor.event_for(ref, payment.public_id, payment.amount_cents)
    event = processor.verify_event(payload, signature)
    await run_db(request, payments.receive_event, _operator(request, "demo_pay_submit"), "demo", event)
    back = f"/p/{patient_public_id}/billing?payment={payment.public_id}"
    if payment.channel == "guest":
        back = f"/billing/guest/done?payment={payment.public_id}"
    return RedirectResponse(back, status_code=303)


routes = [
    Route("/p/{patient}/billing", billing_page, name="billing_page"),
    Route("/p/{patient}/billing/pay", billing_pay, methods=["POST"], name="billing_pay"),
    Route("/p/{patient}/billing/statement", billing_statement, name="billing_statement"),
    Route("/p/{patient}/billing/receipts/{payment}", billing_receipt, name="billing_receipt"),
    Route("/billing/webhook/stripe", stripe_webhook, methods=["POST"], name="stripe_webhook"),
    Route("/demo-pay/{ref}", demo_pay_page, name="demo_pay_page"),
    Route("/demo-pay/{ref}", demo_pay_submit, methods=["POST"], name="demo_pay_submit"),
]
