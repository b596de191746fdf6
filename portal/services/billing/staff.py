"""The billing office: the account search, the ledger, payments taken at the desk or by phone, refunds,
write-offs and payment plans. Each change goes through the door (`access.act`, audited) and is refused
("staff_only") for anyone whose role does not open the billing screen, whatever else they may see.

Every form carries a key: a double submit of a desk payment, a refund or a write-off finds the first one
(the payment's unique key, or the ledger entry's key made from the form's key).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from portal.models.billing import LedgerEntry, Payment, PaymentPlan
from portal.services import access
from portal.services.access import PatientScope, Screen
from portal.services.billing import ledger, pages, payments, plans, reconcile
from portal.services.billing.pages import PlanLine, VisitLine
from portal.services.billing.processors import Processor
from portal.services.errors import Refused

DESK_METHODS = ("cash", "cheque", "card")  # card: the processor's hosted page, typed by the staff member
MAX_REASON = 200
FORM_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def require_billing_staff(scope: PatientScope) -> None:
    if not (scope.staff and access.may_use_screen(scope.viewer, Screen.BILLING)):
        raise Refused("staff_only")


def refuse(session: Session, scope: PatientScope, refused: Refused) -> bool:
    """A form refused before it reached the service (a bad amount): refused as staff-only first, so only
    billing staff learn what was wrong with it."""
    require_billing_staff(scope)
    raise refused


@dataclass(frozen=True)
class LedgerPage:
    balance_cents: int
    entries: list[LedgerEntry]
    payments: list[Payment]
    visits: list[VisitLine]
    plan: list[PlanLine]


def ledger_page(session: Session, scope: PatientScope) -> LedgerPage | None:
    """The account as the billing office sees it: every entry, every payment (None for anyone else)."""
    if not (scope.staff and access.may_use_screen(scope.viewer, Screen.BILLING)):
        return None
    entries = session.exec(
        select(LedgerEntry)
        .where(LedgerEntry.patient_id == scope.patient_id)
        .order_by(col(LedgerEntry.posted_at).desc(), col(LedgerEntry.id).desc())
    ).all()
    found_payments = session.exec(
        select(Payment).where(Payment.patient_id == scope.patient_id).order_by(col(Payment.created_at).desc())
    ).all()
    return LedgerPage(
        ledger.balance(session, scope),
        list(entries),
        list(found_payments),
        pages.shown_visits(scope, pages.left_by_visit(session, scope)),
        pages.plan_lines(session, scope),
    )


@dataclass(frozen=True)
class DeskPayment:
    payment: Payment
    checkout_url: str | None  # for a card: the processor's page the staff member types the card on


def record_desk_payment(
    session: Session,
    scope: PatientScope,
    processor: Processor | None,
    method: str,
    amount_cents: int,
    key: str,
    return_to: str,
) -> DeskPayment:
    """Cash or a cheque taken at the desk (paid now), or a card by phone through the processor's page."""
    require_billing_staff(scope)
    if method not in DESK_METHODS:
        raise Refused("bad_method")
    if not FORM_KEY.match(key):
        raise Refused("form_expired")
    if method == "card":
        started = payments.start(
            session, scope, processor, payments.PayRequest(amount_cents, key, return_to, channel="desk")
        )
        return DeskPayment(started.payment, started.url)
    existing = session.exec(select(Payment).where(Payment.idempotency_key == key)).first()
    if existing is not None:
        if existing.patient_id != scope.patient_id:
            raise Refused("form_expired")
        return DeskPayment(existing, None)
    if amount_cents <= 0:
        raise Refused("bad_amount")
    if amount_cents > ledger.balance(session, scope):
        raise Refused("more_than_due")
    payment = Payment(
        patient_id=scope.patient_id,
        statement_id=ledger.ensure_statement(session, scope, scope.now).id,
        amount_cents=amount_cents,
        processor=method,
        idempotency_key=key,
        channel="desk",
        by_person_id=scope.viewer.id,
        created_at=scope.now,
    )
    session.add(payment)
    session.flush()
    payments.mark_paid(session, scope, payment)
    return DeskPayment(payment, None)


def refund(
    session: Session,
    scope: PatientScope,
    processor: Processor | None,
    payment_public_id: str,
    amount_cents: int,
    key: str,
) -> Payment | None:
    """Give back part or all of a paid payment: through its processor (with the form's key, so the
    processor refunds once), or in cash for cash and cheques. None for another patient's payment."""
    require_billing_staff(scope)
    payment = payments.payment_of(session, scope, payment_public_id)
    if payment is None:
        return None
    if not FORM_KEY.match(key):
        raise Refused("form_expired")
    entry_key = f"refund-form:{key}"
    if session.exec(select(LedgerEntry.id).where(LedgerEntry.entry_key == entry_key)).first() is not None:
        return payment  # the same form again: refunded once already
    if payment.status != "paid":
        raise Refused("not_paid")
    if not 0 < amount_cents <= payment.amount_cents - payment.refunded_cents:
        raise Refused("more_than_paid")
    if payment.processor not in ("cash", "cheque"):
        if processor is None or processor.name != payment.processor or not payment.processor_payment_id:
            raise Refused("processor_unavailable")
        processor.refund(
            processor_payment_id=payment.processor_payment_id, amount_cents=amount_cents, idempotency_key=key
        )
    ledger.post(
        session,
        scope,
        kind="refund",
        amount_cents=amount_cents,
        entry_key=entry_key,
        payment_id=payment.id,
        reason="refund by the billing office",
        by_person_id=scope.viewer.id,
    )
    # The processor's own refund event reports this total: it then finds nothing more to add.
    payment.refunded_cents += amount_cents
    reconcile.keep_notice(session, scope, payment)
    return payment


def write_off(session: Session, scope: PatientScope, amount_cents: int, reason: str, key: str) -> LedgerEntry:
    """Forgive part of the balance, with the reason (staff-facing; never shown to the patient)."""
    require_billing_staff(scope)
    if not FORM_KEY.match(key):
        raise Refused("form_expired")
    reason = reason.strip()
    if not reason:
        raise Refused("reason_missing")
    if len(reason) > MAX_REASON:
        raise Refused("reason_too_long")
    entry_key = f"write-off:{key}"
    existing = session.exec(select(LedgerEntry).where(LedgerEntry.entry_key == entry_key)).first()
    if existing is not None:
        return existing
    if not 0 < amount_cents <= ledger.balance(session, scope):
        raise Refused("more_than_due")
    entry = ledger.post(
        session,
        scope,
        kind="write_off",
        amount_cents=-amount_cents,
        entry_key=entry_key,
        reason=reason,
        by_person_id=scope.viewer.id,
    )
    assert entry is not None
    return entry


def set_up_plan(session: Session, scope: PatientScope, months: int, first_due: date) -> PaymentPlan:
    """A plan for the whole balance, in the clinic's limits (`plans.MIN_MONTHS`..`MAX_MONTHS` months, no
    instalment below `plans.MIN_INSTALMENT_CENTS`)."""
    require_billing_staff(scope)
    return plans.create(session, scope, months, first_due)
