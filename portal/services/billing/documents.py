"""Statement and receipt PDFs, through the portal's PDF rendering, and the one visibility rule for bills."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from jinja2 import Environment
from sqlmodel import Session, col, select

from portal import i18n
from portal.config import Settings
from portal.models.billing import Payment, Statement
from portal.models.people import Patient
from portal.pdf.render import render_document, write_pdf
from portal.services.access import PatientScope
from portal.services.billing import ledger, pages
from portal.services.billing.money import dollars
from portal.services.billing.pages import PaymentLine, VisitLine

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class StatementDoc:
    patient: Patient
    month: str
    code: str
    visits: list[VisitLine]
    payments: list[PaymentLine]
    balance_cents: int


@dataclass(frozen=True)
class ReceiptDoc:
    patient: Patient
    payment_public_id: str
    amount_cents: int
    paid_at: datetime
    statement_month: str | None
    statement_code: str | None
    processor: str
    refunded_cents: int


def statement(session: Session, scope: PatientScope, month: str | None = None) -> StatementDoc | None:
    """One month's statement (the newest when no month is named); a month with no activity has none."""
    query = select(Statement).where(Statement.patient_id == scope.patient_id)
    if month is not None:
        query = query.where(Statement.month == month)
    found = session.exec(query.order_by(col(Statement.month).desc())).first()
    if found is None:
        if month is not None:
            return None
        # No activity yet: an empty statement of this month, so the page's link never fails.
        found = ledger.ensure_statement(session, scope, scope.now)
    visits = [
        (visit, left)
        for visit, left in pages.left_by_visit(session, scope)
        if visit.service_date.strftime("%Y-%m") == found.month
    ]
    payments = [p for p in pages.paid_payments(session, scope) if p.paid_at.strftime("%Y-%m") == found.month]
    return StatementDoc(
        scope.patient,
        found.month,
        found.code,
        pages.shown_visits(scope, visits),
        payments,
        ledger.balance(session, scope),
    )


def receipt(session: Session, scope: PatientScope, public_id: str) -> ReceiptDoc | None:
    payment = session.exec(select(Payment).where(Payment.public_id == public_id)).first()
    if payment is None or payment.patient_id != scope.patient_id or payment.status != "paid":
        return None
    found = session.get(Statement, payment.statement_id) if payment.statement_id else None
    return ReceiptDoc(
        scope.patient,
        payment.public_id,
        payment.amount_cents,
        payment.paid_at or payment.created_at,
        found.month if found else None,
        found.code if found else None,
        payment.processor,
        payment.refunded_cents,
    )


def month_name(month: str) -> str:
    year, number = month.split("-")
    return i18n.format_date(date(int(year), int(number), 1), "MMMM y")


def render_pdf(
    env: Environment, settings: Settings, document: StatementDoc | ReceiptDoc, *, lang: str | None
) -> bytes:
    """Lay out one statement or receipt (CPU work: call from a worker thread)."""
    template = (
        "pdf/billing_statement.html" if isinstance(document, StatementDoc) else "pdf/billing_receipt.html"
    )
    with i18n.using(lang) as chosen:
        born = i18n.format_date(document.patient.birth_date, "long") if document.patient.birth_date else "?"
        context: dict[str, Any] = {
            "doc": document,
            "patient_line": f"{document.patient.display_name} · {i18n.gettext('Date of birth')}: {born}",
            "clinic": {"name": settings.clinic_name, "phone": settings.clinic_phone},
            "printed_on": i18n.format_date(datetime.now(UTC).astimezone(settings.timezone).date(), "long"),
            "lang": chosen,
            "timezone": settings.timezone,
            "month_name": month_name,
            "dollars": dollars,
        }
        return write_pdf([render_document(env, template, context, paper_size=settings.paper_size)])
