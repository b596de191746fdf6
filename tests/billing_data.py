"""Bills for test patients: a visit owing money and a paid payment, written as the importer and the
processor's webhook would (through the ledger and payments services, as the operator)."""

from __future__ import annotations

import secrets
from datetime import date

from sqlmodel import Session

from portal.models import Patient, Payment
from portal.services.billing import ledger, payments
from portal.services.billing.ledger import VisitBill
from tests.scopes import operator_scope


def add_bill(
    session: Session,
    patient: Patient,
    share_cents: int = 12_000,
    *,
    description: str = "Office visit",
    confidential: bool = False,
    served: date = date(2026, 1, 20),
) -> None:
    scope = operator_scope(session, patient)
    key = f"csv:test-{secrets.token_hex(6)}"
    bill = VisitBill(
        key, served, "Dr Ana Ruiz", description, share_cents + 5_000, 5_000, share_cents, confidential
    )
    ledger.record_visit(session, scope, bill)


def add_paid_payment(session: Session, patient: Patient, amount_cents: int = 2_000) -> Payment:
    """A payment the demo processor has confirmed (its receipt can be downloaded)."""
    scope = operator_scope(session, patient)
    payment = Payment(
        patient_id=scope.patient_id,
        statement_id=ledger.ensure_statement(session, scope, scope.now).id,
        amount_cents=amount_cents,
        processor="demo",
        processor_ref=f"demo_{secrets.token_hex(8)}",
        idempotency_key=secrets.token_urlsafe(24),
        created_at=scope.now,
    )
    session.add(payment)
    session.flush()
    payments.mark_paid(session, scope, payment, processor_payment_id=payment.processor_ref)
    return payment


def form_key() -> dict[str, str]:
    """A form's key as each rendered form has its own (a double submit finds the first)."""
    return {"key": secrets.token_urlsafe(24)}


def pay_form() -> dict[str, str]:
    """The Billing page's pay form as rendered."""
    return {"how": "all", **form_key()}
