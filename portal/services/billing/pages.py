"""What the patient or guarantor sees of an account: the balance by visit, statements, payments, receipts.

One visibility rule (`shown_visits`) serves every output — page, statement PDF, receipt, guest page: a
viewer who does not see confidential items (a parent of a 12-17-year-old) sees a confidential visit's
charges only as one "confidential services" line, still counted in the balance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlmodel import Session, col, select

from portal.i18n import N_
from portal.models.billing import BilledVisit, LedgerEntry, Payment, PaymentPlan, PlanInstalment, Statement
from portal.services.access import PatientScope
from portal.services.billing import ledger

CONFIDENTIAL_SERVICES = N_("Confidential services")
CREDIT_KINDS = ("payment", "refund", "write_off")


@dataclass(frozen=True)
class VisitLine:
    """One line of "balance by visit" (or the confidential services summed into one line)."""

    service_date: date | None
    provider: str
    description: str
    billed_cents: int
    insurance_paid_cents: int
    left_cents: int
    confidential: bool = False


@dataclass(frozen=True)
class PaymentLine:
    public_id: str
    paid_at: datetime
    amount_cents: int
    refunded_cents: int
    processor: str
    statement_month: str | None


@dataclass(frozen=True)
class PlanLine:
    number: int
    due_on: date
    amount_cents: int
    paid_cents: int


@dataclass
class AccountPage:
    balance_cents: int
    visits: list[VisitLine]
    statements: list[Statement]
    payments: list[PaymentLine]
    plan: list[PlanLine] = field(default_factory=list)
    just_paid: Payment | None = None  # the payment the browser came back from, in the state it is in


def left_by_visit(session: Session, scope: PatientScope) -> list[tuple[BilledVisit, int]]:
    """Each visit with what is left of the patient's share: payments and credits paid off the oldest
    visits first (a write-off for a visit goes to that visit)."""
    visits = list(
        session.exec(
            select(BilledVisit)
            .where(BilledVisit.patient_id == scope.patient_id)
            .order_by(col(BilledVisit.service_date), col(BilledVisit.id))
        )
    )
    entries = session.exec(
        select(LedgerEntry.kind, LedgerEntry.amount_cents, LedgerEntry.visit_id).where(
            LedgerEntry.patient_id == scope.patient_id, col(LedgerEntry.kind).in_(CREDIT_KINDS)
        )
    ).all()
    for_visit: dict[int, int] = {}
    pool = 0
    for _, amount, visit_id in entries:
        if visit_id is not None:
            for_visit[visit_id] = for_visit.get(visit_id, 0) - amount
        else:
            pool -= amount
    found = []
    for visit in visits:
        assert visit.id is not None
        left = max(0, visit.patient_share_cents - for_visit.get(visit.id, 0))
        taken = min(left, max(pool, 0))
        pool -= taken
        found.append((visit, left - taken))
    return found


def shown_visits(scope: PatientScope, visits: list[tuple[BilledVisit, int]]) -> list[VisitLine]:
    """The one visibility rule for bills: confidential visits summed into one line for a limited view."""
    lines: list[VisitLine] = []
    hidden = [(v, left) for v, left in visits if v.confidential and not scope.sees_confidential]
    for visit, left in visits:
        if visit.confidential and not scope.sees_confidential:
            continue
        lines.append(
            VisitLine(
                visit.service_date,
                visit.provider,
                visit.description,
                visit.billed_cents,
                visit.insurance_paid_cents,
                left,
                visit.confidential,
            )
        )
    if hidden:
        lines.append(
            VisitLine(
                None,
                "",
                CONFIDENTIAL_SERVICES,
                sum(v.billed_cents for v, _ in hidden),
                sum(v.insurance_paid_cents for v, _ in hidden),
                sum(left for _, left in hidden),
                True,
            )
        )
    return lines


def paid_payments(session: Session, scope: PatientScope) -> list[PaymentLine]:
    rows = session.exec(
        select(Payment, Statement)
        .join(Statement, col(Statement.id) == col(Payment.statement_id), isouter=True)
        .where(Payment.patient_id == scope.patient_id, Payment.status == "paid")
        .order_by(col(Payment.paid_at).desc())
    ).all()
    return [
        PaymentLine(
            p.public_id,
            p.paid_at or p.created_at,
            p.amount_cents,
            p.refunded_cents,
            p.processor,
            s.month if s is not None else None,
        )
        for p, s in rows
    ]


def account(session: Session, scope: PatientScope, just_paid: str | None = None) -> AccountPage:
    """The billing page's reader."""
    statements = list(
        session.exec(
            select(Statement)
            .where(Statement.patient_id == scope.patient_id)
            .order_by(col(Statement.month).desc())
        )
    )
    returned = None
    if just_paid:
        found = session.exec(select(Payment).where(Payment.public_id == just_paid)).first()
        returned = found if found is not None and found.patient_id == scope.patient_id else None
    return AccountPage(
        ledger.balance(session, scope),
        shown_visits(scope, left_by_visit(session, scope)),
        statements,
        paid_payments(session, scope),
        plan_lines(session, scope),
        returned,
    )


def plan_lines(session: Session, scope: PatientScope) -> list[PlanLine]:
    plan = session.exec(
        select(PaymentPlan).where(PaymentPlan.patient_id == scope.patient_id, PaymentPlan.status == "active")
    ).first()
    if plan is None:
        return []
    return [
        PlanLine(i.number, i.due_on, i.amount_cents, i.paid_cents)
        for i in session.exec(
            select(PlanInstalment)
            .where(PlanInstalment.plan_id == plan.id)
            .order_by(col(PlanInstalment.number))
        )
    ]
