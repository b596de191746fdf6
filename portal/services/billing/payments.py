"""Payments: started by a patient, guarantor or guest at a processor's hosted page; made paid only by the
processor's verified webhook; refunds and disputes from the processor add their entries.

Idempotency: every payment form carries a key, unique in the table, so a double submit finds the first
payment (and the processor gets the same key, so it makes one checkout); every processor event is stored
once by its id, so a retried webhook changes nothing; the ledger entry of a payment has a key naming the
payment, so even two different events saying "paid" post it once. The browser's return shows the state
and changes nothing, whether it comes before or after the webhook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.models.billing import Payment, ProcessorEvent, Statement
from portal.models.people import Patient
from portal.services import access
from portal.services.access import Area, Look, PatientScope
from portal.services.billing import ledger, reconcile
from portal.services.billing.processors import Processor, ProcessorEventData
from portal.services.errors import Refused

KEY_PATTERN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
WEBHOOK = Look(Area.BILLING, "PaymentNotice", action="pay")


@dataclass(frozen=True)
class PayRequest:
    amount_cents: int
    idempotency_key: str
    return_to: str  # where the processor sends the browser back (it proves nothing)
    statement_id: int | None = None
    channel: str = "portal"


@dataclass(frozen=True)
class Started:
    payment: Payment
    url: str


def start(session: Session, scope: PatientScope, processor: Processor | None, request: PayRequest) -> Started:
    """Make a pending payment and its hosted checkout page; a repeated form key returns the first one."""
    if processor is None:
        raise Refused("payments_off")
    if not KEY_PATTERN.match(request.idempotency_key):
        raise Refused("form_expired")
    existing = session.exec(select(Payment).where(Payment.idempotency_key == request.idempotency_key)).first()
    if existing is not None:
        if existing.patient_id != scope.patient_id or existing.processor_ref is None:
            raise Refused("form_expired")
        # The processor has the same key, so it answers with the checkout it made the first time.
        again = processor.start_checkout(
            payment_public_id=existing.public_id,
            amount_cents=existing.amount_cents,
            idempotency_key=request.idempotency_key,
            success_url=f"{request.return_to}?payment={existing.public_id}",
            cancel_url=request.return_to,
        )
        return Started(existing, again.url)
    due = ledger.balance(session, scope)
    if due <= 0:
        raise Refused("nothing_due")
    if request.amount_cents < 100 and request.amount_cents != due:
        raise Refused("amount_too_small")
    if request.amount_cents > due:
        raise Refused("more_than_due")
    statement_id = request.statement_id or ledger.ensure_statement(session, scope, scope.now).id
    payment = Payment(
        patient_id=scope.patient_id,
        statement_id=statement_id,
        amount_cents=request.amount_cents,
        processor=processor.name,
        idempotency_key=request.idempotency_key,
        channel=request.channel,
        by_person_id=scope.viewer.id,
        created_at=scope.now,
    )
    session.add(payment)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:  # the same form submitted twice at once: the other request made it
        raise Refused("form_expired") from None
    checkout = processor.start_checkout(
        payment_public_id=payment.public_id,
        amount_cents=payment.amount_cents,
        idempotency_key=request.idempotency_key,
        success_url=f"{request.return_to}?payment={payment.public_id}",
        cancel_url=request.return_to,
    )
    payment.processor_ref = checkout.processor_ref
    session.flush()
    return Started(payment, checkout.url)


def start_for_balance(
    session: Session,
    scope: PatientScope,
    processor: Processor | None,
    amount_cents: int | None,
    idempotency_key: str,
    return_to: str,
    channel: str = "portal",
) -> Started:
    """`start` for an amount, or for the whole balance when no amount is given."""
    wanted = amount_cents if amount_cents is not None else ledger.balance(session, scope)
    return start(session, scope, processor, PayRequest(wanted, idempotency_key, return_to, channel=channel))


def pending_by_ref(session: Session, processor: str, ref: str) -> tuple[Payment, str] | None:
    """For the demo processor's hosted page: the payment behind a checkout, and where to send the browser
    back (the patient's public id). Shows an amount only, like a processor's page."""
    payment = session.exec(
        select(Payment).where(Payment.processor == processor, Payment.processor_ref == ref[:255])
    ).first()
    if payment is None:
        return None
    patient = session.get(Patient, payment.patient_id)
    assert patient is not None
    return payment, patient.public_id


def payment_of(session: Session, scope: PatientScope, public_id: str) -> Payment | None:
    """One of this patient's payments, or None (another patient's payment answers like a missing one)."""
    payment = session.exec(select(Payment).where(Payment.public_id == public_id)).first()
    return payment if payment is not None and payment.patient_id == scope.patient_id else None


# ------------------------------------------------------------------------------ the processor's word


def receive_event(
    session: Session, operator: access.Operator, processor: str, event: ProcessorEventData
) -> str:
    """Apply one verified processor event once: "applied", "duplicate", "ignored" or "unknown payment"."""
    try:
        with session.begin_nested():
            session.add(
                ProcessorEvent(processor=processor, event_id=event.event_id[:255], event_type=event.kind)
            )
            session.flush()
    except IntegrityError:
        return "duplicate"
    if event.kind == "ignored":
        return "ignored"
    payment = _find_payment(session, processor, event)
    if payment is None:
        return "unknown payment"
    patient = session.get(Patient, payment.patient_id)
    assert patient is not None
    acted = access.act_as_operator(session, operator, patient, WEBHOOK, _apply, payment, event)
    return "applied" if acted is not None and acted.refused is None else "ignored"


def _find_payment(session: Session, processor: str, event: ProcessorEventData) -> Payment | None:
    if event.processor_ref:
        found = session.exec(
            select(Payment).where(
                Payment.processor == processor, Payment.processor_ref == event.processor_ref
            )
        ).first()
        if found is not None:
            return found
    if event.processor_payment_id:
        found = session.exec(
            select(Payment).where(
                Payment.processor == processor, Payment.processor_payment_id == event.processor_payment_id
            )
        ).first()
        if found is not None:
            return found
    if event.payment_public_id:
        found = session.exec(select(Payment).where(Payment.public_id == event.payment_public_id)).first()
        if found is not None and found.processor == processor:
            return found
    return None


def _apply(
    session: Session, scope: PatientScope, payment: Payment, event: ProcessorEventData
) -> Payment | None:
    if event.kind == "paid":
        if event.amount_cents and event.amount_cents != payment.amount_cents:
            raise Refused("amount_mismatch")
        mark_paid(session, scope, payment, processor_payment_id=event.processor_payment_id)
    elif event.kind == "refunded":
        refund_to(session, scope, payment, total_refunded=event.amount_cents, why="processor refund")
    elif event.kind == "disputed":
        ledger.post(
            session,
            scope,
            kind="refund",
            amount_cents=min(event.amount_cents, payment.amount_cents),
            entry_key=f"dispute:{payment.public_id}:{event.event_id}"[:200],
            payment_id=payment.id,
            reason="card dispute",
        )
    return payment


def mark_paid(
    session: Session, scope: PatientScope, payment: Payment, *, processor_payment_id: str | None = None
) -> None:
    """Paid: its one ledger entry (keyed by the payment, so it is posted once whatever repeats)."""
    if payment.status != "paid":
        payment.status = "paid"
        payment.paid_at = scope.now
    if processor_payment_id and not payment.processor_payment_id:
        payment.processor_payment_id = processor_payment_id
    ledger.post(
        session,
        scope,
        kind="payment",
        amount_cents=-payment.amount_cents,
        entry_key=f"payment:{payment.public_id}",
        payment_id=payment.id,
        posted_at=payment.paid_at,
    )
    if payment.instalment_id is not None:
        from portal.services.billing.plans import credit_instalment

        credit_instalment(session, payment)
    reconcile.keep_notice(session, scope, payment)


def refund_to(
    session: Session, scope: PatientScope, payment: Payment, *, total_refunded: int, why: str
) -> None:
    """Bring the payment's refunds up to `total_refunded` (processors report the running total)."""
    if payment.status != "paid":
        raise Refused("not_paid")
    total = min(total_refunded, payment.amount_cents)
    more = total - payment.refunded_cents
    if more <= 0:
        return
    ledger.post(
        session,
        scope,
        kind="refund",
        amount_cents=more,
        entry_key=f"refund:{payment.public_id}:{total}",
        payment_id=payment.id,
        reason=why,
    )
    payment.refunded_cents = total
    reconcile.keep_notice(session, scope, payment)


def statement_of(session: Session, payment: Payment) -> Statement | None:
    return session.get(Statement, payment.statement_id) if payment.statement_id is not None else None
