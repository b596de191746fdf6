"""Guest pay: one paper statement paid without an account, with its code and the patient's date of birth.

The checks, the lock and the audit events are the billing service's (portal/services/billing/guest.py);
these views parse the form, make one call in one transaction, and render.
"""

from __future__ import annotations

import secrets

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from portal.db import run_db
from portal.i18n import N_
from portal.models.base import utcnow
from portal.services.billing import documents, guest, payments
from portal.services.billing.money import dollars, parse_cents
from portal.services.errors import Refused
from portal.templating import render
from portal.views import identity_refusals
from portal.views.auth import parse_birth_date
from portal.views.billing import _form, _settings, processor_of, say
from portal.views.chart import where

GUEST_REFUSALS: dict[str, str] = {
    "bad_statement_code": N_(
        "That statement code and date of birth don't match. Check both and try again. "
        "After five wrong dates of birth, the code stops working."
    ),
    "statement_locked": N_(
        "This statement code no longer works: it had too many wrong tries. Please call the clinic to pay."
    ),
    "guest_pass_expired": N_("This page was open too long. Please enter the statement code again."),
}


def guest_say(refused: Refused) -> str:
    if refused.code == identity_refusals.RATE_LIMITED:
        return identity_refusals.refusal_message(refused)
    return GUEST_REFUSALS.get(refused.code) or say(refused)


def _entry(request: Request, message: str | None = None, status_code: int = 200) -> Response:
    return render(request, "billing/guest.html", {"message": message}, status_code=status_code)


async def guest_page(request: Request) -> Response:
    return _entry(request)


async def guest_check(request: Request) -> Response:
    """The statement code and date of birth: the statement's page with its pay form, or a refusal."""
    form = await _form(request)
    found = await run_db(
        request,
        guest.open_statement,
        _settings(request),
        where(request),
        utcnow(),
        form.get("code", "")[:40],
        parse_birth_date(form.get("birth_date")),
    )
    if isinstance(found, Refused):
        status = identity_refusals.refusal_status(found) if found.code == "rate_limited" else 400
        return _entry(request, guest_say(found), status)
    return _statement(request, found)


def _statement(
    request: Request, found: guest.GuestStatement, message: str | None = None, status_code: int = 200
) -> Response:
    context = {
        "statement": found,
        "dollars": dollars,
        "month_name": documents.month_name,
        "processor": processor_of(request),
        "pay_key": secrets.token_urlsafe(24),
        "message": message,
    }
    return render(request, "billing/guest_statement.html", context, status_code=status_code)


async def guest_pay(request: Request) -> Response:
    form = await _form(request)
    settings = _settings(request)
    token = form.get("pass", "")
    try:
        amount = parse_cents(form.get("amount", "")) if form.get("how") == "part" else None
    except Refused as refused:
        started: payments.Started | Refused = refused
    else:
        started = await run_db(
            request,
            guest.start_payment,
            settings,
            where(request),
            utcnow(),
            token,
            processor_of(request),
            amount,
            form.get("key", ""),
            settings.origin + "/billing/guest/done",
        )
    if isinstance(started, payments.Started):
        return RedirectResponse(started.url, status_code=303)
    if started.code == "guest_pass_expired":
        return _entry(request, guest_say(started), 400)
    # Show the statement again with the message: the pass is good (it was checked above).
    again = await run_db(request, guest.reopen, settings, where(request), utcnow(), token)
    if again is None:
        return _entry(request, guest_say(Refused("guest_pass_expired")), 400)
    return _statement(request, again, guest_say(started), 400)


async def guest_done(request: Request) -> Response:
    """Back from the processor's page: the payment's amount and state only (the return marks nothing)."""
    public_id = request.query_params.get("payment")
    if public_id is not None and not payments.KEY_PATTERN.match(public_id):
        raise HTTPException(400)
    payment = await run_db(request, guest.guest_payment, public_id) if public_id else None
    return render(request, "billing/guest_done.html", {"payment": payment, "dollars": dollars})


routes = [
    Route("/billing/guest", guest_page, name="billing_guest_page"),
    Route("/billing/guest", guest_check, methods=["POST"], name="billing_guest_check"),
    Route("/billing/guest/pay", guest_pay, methods=["POST"], name="billing_guest_pay"),
    Route("/billing/guest/done", guest_done, name="billing_guest_done"),
]
