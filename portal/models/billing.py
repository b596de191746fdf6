"""Bills: each patient's ledger (integer cents), the visits it bills, statements, payments and plans.

A patient's balance is the sum of their ledger entries, never a stored number: charges are positive,
insurance adjustments, payments and write-offs negative, refunds positive. Every entry carries a unique
`entry_key` saying where it came from, so importing the same claim or statement line again, or hearing
the same processor event twice, adds nothing.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, UniqueConstraint
from sqlmodel import Field, SQLModel

from portal.models.base import UTCDateTime, new_public_id, utcnow

ENTRY_KINDS = ("charge", "insurance_adjustment", "payment", "refund", "write_off")


class BilledVisit(SQLModel, table=True):
    """One visit's bill: what was billed, what insurance paid, and the patient's share, as last imported."""

    __tablename__ = "billed_visit"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    source_key: str = Field(unique=True, max_length=140)  # "eob:<fhir id>" or "csv:<visit ref>"
    service_date: date
    provider: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=200)
    billed_cents: int = 0
    insurance_paid_cents: int = 0
    patient_share_cents: int = 0
    # A teen's confidential visit: its lines are not shown to a limited proxy (still in the balance).
    confidential: bool = False
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        CheckConstraint(
            "kind IN ('charge', 'insurance_adjustment', 'payment', 'refund', 'write_off')",
            name="ledger_entry_kind",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    visit_id: int | None = Field(default=None, foreign_key="billed_visit.id", index=True)
    payment_id: int | None = Field(default=None, foreign_key="payment.id", index=True)
    kind: str = Field(max_length=24)
    amount_cents: int
    posted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    entry_key: str = Field(unique=True, max_length=200)
    reason: str | None = Field(default=None, max_length=200)  # a write-off's reason, staff-facing
    by_person_id: int | None = Field(default=None, foreign_key="person.id")


class Statement(SQLModel, table=True):
    """One month with activity on a patient's account; its code pays it as a guest from the paper copy."""

    __tablename__ = "statement"
    __table_args__ = (UniqueConstraint("patient_id", "month"),)

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    month: str = Field(max_length=7)  # "2026-05"
    code: str = Field(unique=True, index=True, max_length=16)
    wrong_birth_dates: int = 0
    locked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Payment(SQLModel, table=True):
    """A payment asked for or taken: paid only when the processor says so (its signed webhook), or when
    billing staff record cash or a cheque."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("processor", "processor_ref"),
        CheckConstraint("amount_cents > 0", name="payment_amount_positive"),
    )

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    statement_id: int | None = Field(default=None, foreign_key="statement.id")
    instalment_id: int | None = Field(default=None, foreign_key="plan_instalment.id")
    amount_cents: int
    refunded_cents: int = 0
    status: str = Field(default="pending", max_length=16, index=True)  # pending, paid, failed
    processor: str = Field(max_length=16)  # stripe, demo, cash, cheque
    processor_ref: str | None = Field(default=None, max_length=255)  # the processor's checkout id
    processor_payment_id: str | None = Field(default=None, max_length=255, index=True)  # for payouts
    # One per rendered form: a double submit finds the payment the first submit made.
    idempotency_key: str = Field(unique=True, max_length=64)
    channel: str = Field(default="portal", max_length=16)  # portal, guest, desk
    by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    paid_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)


class ProcessorEvent(SQLModel, table=True):
    """A processor's webhook event, once: a retried delivery finds its row and changes nothing."""

    __tablename__ = "processor_event"
    __table_args__ = (UniqueConstraint("processor", "event_id"),)

    id: int | None = Field(default=None, primary_key=True)
    processor: str = Field(max_length=16)
    event_id: str = Field(max_length=255)
    event_type: str = Field(max_length=64)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PaymentPlan(SQLModel, table=True):
    __tablename__ = "payment_plan"

    id: int | None = Field(default=None, primary_key=True)
    public_id: str = Field(default_factory=new_public_id, unique=True, index=True, max_length=32)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    total_cents: int
    months: int
    status: str = Field(default="active", max_length=16)  # active, done, cancelled
    by_person_id: int | None = Field(default=None, foreign_key="person.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class PlanInstalment(SQLModel, table=True):
    __tablename__ = "plan_instalment"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    id: int | None = Field(default=None, primary_key=True)
    plan_id: int = Field(foreign_key="payment_plan.id", index=True)
    number: int
    due_on: date = Field(index=True)
    amount_cents: int
    paid_cents: int = 0
    reminded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
