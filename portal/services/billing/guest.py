"""Guest pay: paying one paper statement without an account, with the statement's code and the patient's
date of birth.

Checked like an activation code: every wrong try counts against the client's address (a rate limit kept
in the database), and five wrong dates of birth for a real code lock that code for good (the clinic
prints a new statement). Each try is audited ("guest-pay", allowed or denied; "code-locked" when a code
locks). The page shows that statement only (its month's visits, a confidential visit as one line, and the
balance due), through the door as a guest; the pay form carries a signed pass naming the statement, so
paying needs no account and no second check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import Session, select

from portal.config import Settings
from portal.models.billing import Payment, Statement
from portal.models.people import Patient
from portal.provenance import Provenance
from portal.security import ratelimit, sessions, signing
from portal.services import access, audit
from portal.services.access import Area, Look, PatientScope
from portal.services.billing import ledger, pages
from portal.services.billing.pages import VisitLine
from portal.services.billing.payments import PayRequest, Started, start
from portal.services.billing.processors import Processor
from portal.services.errors import Refused

MAX_WRONG_BIRTH_DATES = 5
PASS_PURPOSE = "guest-pay"
PASS_SECONDS = 30 * 60
CODE_PATTERN = re.compile(r"^[A-Z0-9]{10}$")
VIEW = Look(Area.BILLING, "Invoice", action="view")
PAY = Look(Area.BILLING, "PaymentNotice", action="pay")


@dataclass(frozen=True)
class GuestStatement:
    month: str
    visits: list[VisitLine]
    balance_cents: int
    pass_token: str  # goes in the pay form: names this statement, signed, for PASS_SECONDS


def normalize(typed: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", typed).upper()


def open_statement(
    session: Session, settings: Settings, where: Provenance, now: datetime, typed_code: str, born: date | None
) -> GuestStatement | Refused:
    """The statement whose code was typed, if the date of birth is the patient's; else a refusal (returned,
    not raised, so the counted try is committed)."""
    address = where.client_address or "unknown"
    try:
        ratelimit.check(session, settings, ratelimit.GUEST_PAY_ADDRESS, address)
    except ratelimit.RateLimited as error:
        audit.record(
            session,
            action="rate-limited",
            outcome="denied",
            resource_type=error.limit.name,
            provenance=where,
        )
        return Refused("rate_limited", minutes=sessions.minutes_until(error.until))
    code = normalize(typed_code)
    statement = None
    if CODE_PATTERN.match(code):
        statement = session.exec(
            select(Statement).where(Statement.code == f"{code[:5]}-{code[5:]}").with_for_update()
        ).first()
    patient = session.get(Patient, statement.patient_id) if statement is not None else None
    if statement is None or patient is None or statement.locked_at is not None:
        return _wrong(session, settings, where, address, statement, patient, locked=statement is not None)
    if born is None or patient.birth_date != born or patient.deceased:
        statement.wrong_birth_dates += 1
        if statement.wrong_birth_dates >= MAX_WRONG_BIRTH_DATES:
            statement.locked_at = now
            audit.record(
                session,
                action="code-locked",
                outcome="denied",
                actor_role=access.GUEST_ROLE,
                patient_id=patient.id,
                resource_type="Invoice",
                resource_id=statement.public_id,
                provenance=where,
            )
        return _wrong(
            session, settings, where, address, statement, patient, locked=statement.locked_at is not None
        )
    token = signing.sign(settings, PASS_PURPOSE, statement.public_id)
    look = Look(Area.BILLING, "Invoice", statement.public_id, action="view")
    acted = access.act_as_guest(session, where, now, patient, look, _read, statement, token)
    if acted is None or acted.data is None:
        return Refused("bad_statement_code")
    return acted.data


def _wrong(
    session: Session,
    settings: Settings,
    where: Provenance,
    address: str,
    statement: Statement | None,
    patient: Patient | None,
    *,
    locked: bool,
) -> Refused:
    ratelimit.hit(session, settings, ratelimit.GUEST_PAY_ADDRESS, address)
    audit.record(
        session,
        action="guest-pay",
        outcome="denied",
        actor_role=access.GUEST_ROLE,
        patient_id=patient.id if patient is not None else None,
        resource_type="Invoice",
        resource_id=statement.public_id if statement is not None else None,
        provenance=where,
    )
    # A locked code says so only to someone who typed a real code: they hold the paper statement.
    return Refused("statement_locked" if locked else "bad_statement_code")


def _read(session: Session, scope: PatientScope, statement: Statement, token: str) -> GuestStatement:
    visits = [
        (visit, left)
        for visit, left in pages.left_by_visit(session, scope)
        if visit.service_date.strftime("%Y-%m") == statement.month
    ]
    return GuestStatement(
        statement.month, pages.shown_visits(scope, visits), ledger.balance(session, scope), token
    )


def statement_of_pass(session: Session, settings: Settings, token: str) -> tuple[Statement, Patient] | None:
    """The statement a pay form's pass names, while the pass is fresh and the code not locked."""
    public_id = signing.unsign(settings, PASS_PURPOSE, token, max_age=PASS_SECONDS)
    if public_id is None:
        return None
    statement = session.exec(select(Statement).where(Statement.public_id == public_id)).first()
    if statement is None or statement.locked_at is not None:
        return None
    patient = session.get(Patient, statement.patient_id)
    return (statement, patient) if patient is not None else None


def reopen(
    session: Session, settings: Settings, where: Provenance, now: datetime, token: str
) -> GuestStatement | None:
    """The statement a fresh pass names, read again (to show a refusal beside its pay form)."""
    found = statement_of_pass(session, settings, token)
    if found is None:
        return None
    statement, patient = found
    look = Look(Area.BILLING, "Invoice", statement.public_id, action="view")
    acted = access.act_as_guest(session, where, now, patient, look, _read, statement, token)
    return acted.data if acted is not None else None


def start_payment(
    session: Session,
    settings: Settings,
    where: Provenance,
    now: datetime,
    token: str,
    processor: Processor | None,
    amount_cents: int | None,
    idempotency_key: str,
    return_to: str,
) -> Started | Refused:
    """Start paying the statement a pass names (all of the balance when no amount is given)."""
    found = statement_of_pass(session, settings, token)
    if found is None:
        return Refused("guest_pass_expired")
    statement, patient = found
    acted = access.act_as_guest(
        session,
        where,
        now,
        patient,
        PAY,
        _start,
        processor,
        amount_cents,
        idempotency_key,
        return_to,
        statement,
    )
    if acted is None:
        return Refused("failed")
    return acted.refused or acted.data or Refused("failed")


def _start(
    session: Session,
    scope: PatientScope,
    processor: Processor | None,
    amount_cents: int | None,
    idempotency_key: str,
    return_to: str,
    statement: Statement,
) -> Started:
    wanted = amount_cents if amount_cents is not None else ledger.balance(session, scope)
    return start(
        session,
        scope,
        processor,
        PayRequest(wanted, idempotency_key, return_to, statement_id=statement.id, channel="guest"),
    )


def guest_payment(session: Session, public_id: str) -> Payment | None:
    """The guest's payment, after the processor's page: its amount and state only."""
    payment = session.exec(select(Payment).where(Payment.public_id == public_id)).first()
    return payment if payment is not None and payment.channel == "guest" else None
