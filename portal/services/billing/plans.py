"""Payment plans: a balance split into 2-12 monthly instalments, each paid like any payment, with a
reminder by mail before each is due (the mail names no amount and no visit: only that a payment is due).

The clinic's rules (here, for every clinic until they become settings): at most `MAX_MONTHS` months, no
instalment below `MIN_INSTALMENT_CENTS`.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from portal import db
from portal.config import Settings
from portal.models.access import ProxyGrant
from portal.models.base import utcnow
from portal.models.billing import Payment, PaymentPlan, PlanInstalment
from portal.models.people import Patient, Person
from portal.provenance import Provenance
from portal.services import access, mail
from portal.services.access import Area, Look, PatientScope
from portal.services.billing import ledger
from portal.services.errors import Refused

MIN_MONTHS, MAX_MONTHS = 2, 12
MIN_INSTALMENT_CENTS = 2_500
REMIND_DAYS_BEFORE = 5
REMINDER = Look(Area.BILLING, "PaymentPlan", action="update")


def add_months(start: date, months: int) -> date:
    month = start.month - 1 + months
    year, month = start.year + month // 12, month % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def split(total_cents: int, months: int) -> list[int]:
    """Equal instalments in whole cents; the first carries the odd cents. Sums to the total exactly."""
    base, extra = divmod(total_cents, months)
    return [base + extra] + [base] * (months - 1)


def create(session: Session, scope: PatientScope, months: int, first_due: date) -> PaymentPlan:
    """Set up a plan for the whole balance (one active plan at a time)."""
    if not MIN_MONTHS <= months <= MAX_MONTHS:
        raise Refused("plan_months", low=MIN_MONTHS, high=MAX_MONTHS)
    due = ledger.balance(session, scope)
    if due <= 0:
        raise Refused("nothing_due")
    if due // months < MIN_INSTALMENT_CENTS:
        raise Refused("plan_instalment_too_small")
    active = session.exec(
        select(PaymentPlan).where(PaymentPlan.patient_id == scope.patient_id, PaymentPlan.status == "active")
    ).first()
    if active is not None:
        raise Refused("plan_exists")
    plan = PaymentPlan(
        patient_id=scope.patient_id, total_cents=due, months=months, by_person_id=scope.viewer.id
    )
    session.add(plan)
    session.flush()
    assert plan.id is not None
    for number, amount in enumerate(split(due, months), start=1):
        session.add(
            PlanInstalment(
                plan_id=plan.id, number=number, due_on=add_months(first_due, number - 1), amount_cents=amount
            )
        )
    session.flush()
    return plan


def credit_instalment(session: Session, payment: Payment) -> None:
    instalment = session.get(PlanInstalment, payment.instalment_id)
    if instalment is not None:
        instalment.paid_cents = min(instalment.amount_cents, instalment.paid_cents + payment.amount_cents)


def next_unpaid(session: Session, scope: PatientScope) -> PlanInstalment | None:
    return session.exec(
        select(PlanInstalment)
        .join(PaymentPlan, col(PaymentPlan.id) == col(PlanInstalment.plan_id))
        .where(
            PaymentPlan.patient_id == scope.patient_id,
            PaymentPlan.status == "active",
            col(PlanInstalment.paid_cents) < col(PlanInstalment.amount_cents),
        )
        .order_by(col(PlanInstalment.due_on))
    ).first()


# -------------------------------------------------------------------------------------- reminders


def _remind(session: Session, scope: PatientScope, instalment: PlanInstalment, settings: Settings) -> int:
    """Mail everyone responsible for the bill (the patient's own account; else a parent or guardian)."""
    addresses = _guarantor_addresses(session, scope, settings)
    for address in addresses:
        mail.enqueue(
            session,
            to=address,
            subject=f"{settings.clinic_name}: a payment is due soon",
            body=(
                f"A payment on your plan with {settings.clinic_name} is due soon.\n"
                f"Please sign in to your portal to see it: {settings.origin}/\n"
            ),
        )
    instalment.reminded_at = scope.now
    return len(addresses)


def _guarantor_addresses(session: Session, scope: PatientScope, settings: Settings) -> list[str]:
    patient = scope.patient
    if patient.person_id is not None:
        own = session.get(Person, patient.person_id)
        if own is not None and own.email and not own.disabled:
            return [own.email]
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    found = []
    for grant, person in session.exec(
        select(ProxyGrant, Person)
        .join(Person, col(Person.id) == col(ProxyGrant.proxy_person_id))
        .where(ProxyGrant.patient_id == patient.id, col(ProxyGrant.relationship).in_(("parent", "guardian")))
    ):
        if (
            person.email
            and access.grant_level(grant, patient.birth_date, settings.today(), rules) is not None
        ):
            found.append(person.email)
    return sorted(set(found))


def send_reminders(engine: Engine, settings: Settings) -> int:
    """The worker's job: one reminder per instalment due within REMIND_DAYS_BEFORE days, each audited."""
    horizon = settings.today() + timedelta(days=REMIND_DAYS_BEFORE)
    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    sent = 0
    with db.transaction(engine) as session:
        waiting = session.exec(
            select(PlanInstalment, PaymentPlan)
            .join(PaymentPlan, col(PaymentPlan.id) == col(PlanInstalment.plan_id))
            .where(
                PaymentPlan.status == "active",
                col(PlanInstalment.reminded_at).is_(None),
                col(PlanInstalment.due_on) <= horizon,
                col(PlanInstalment.due_on) >= settings.today(),
                col(PlanInstalment.paid_cents) < col(PlanInstalment.amount_cents),
            )
        ).all()
        operator = access.Operator(
            settings.today(), rules, utcnow(), Provenance(route="worker:plan_reminders")
        )
        for instalment, plan in waiting:
            patient = session.get(Patient, plan.patient_id)
            assert patient is not None
            access.act_as_operator(session, operator, patient, REMINDER, _remind, instalment, settings)
            sent += 1
    return sent


def worker_round(engine: Engine, settings: Settings) -> None:
    """The worker's billing jobs: take new claims into the ledgers, then remind of instalments due."""
    from portal.services.billing.imports import sync_claims

    rules = access.AgeRules(settings.full_proxy_until_age, settings.adult_at_age)
    with db.transaction(engine) as session:
        sync_claims(
            session, access.Operator(settings.today(), rules, utcnow(), Provenance(route="worker:billing"))
        )
    send_reminders(engine, settings)
