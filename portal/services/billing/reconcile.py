"""Reconciliation: the day's payments and refunds by processor id (to match the processor's payouts), the
FHIR `PaymentNotice` kept for each paid payment (in fhir_resource, so the patient's FHIR download and
`portal export-fhir` carry it), and `PaymentReconciliation` per processor and day for
`portal billing export --since`.

Money in FHIR is a decimal string of dollars made from cents (never a float).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlmodel import Session, col, select

from portal.models.billing import LedgerEntry, Payment
from portal.models.people import Patient, Person
from portal.models.records import FhirResource
from portal.provenance import Provenance
from portal.services import access, audit
from portal.services.access import PatientScope, Screen
from portal.services.audit.search import csv_cell

RECIPIENT = {"display": "The clinic"}  # the payee: the clinic running this portal
CSV_HEADER = ("time", "kind", "processor", "processor_id", "amount", "payment", "channel")


@dataclass(frozen=True)
class ReconLine:
    at: datetime
    kind: str  # payment, refund
    processor: str
    processor_id: str  # the processor's payment id (cash and cheques: the portal's payment id)
    amount_cents: int  # a refund is negative
    payment_public_id: str
    channel: str


@dataclass(frozen=True)
class DailyReport:
    day: date
    lines: list[ReconLine]
    totals: dict[str, int]  # net by processor


def money(cents: int) -> dict[str, Any]:
    """FHIR Money from cents. The value is handed to JSON as a float only to be written out: for any
    amount up to `MAX_CENTS` its shortest text is exactly the two-decimal dollars (12.34 stays 12.34)."""
    return {"value": float(Decimal(cents) / 100), "currency": "USD"}


def _processor_id(payment: Payment) -> str:
    return payment.processor_payment_id or payment.processor_ref or payment.public_id


def lines_between(session: Session, start: datetime, end: datetime) -> list[ReconLine]:
    """Payments paid and refunds posted in [start, end), oldest first."""
    paid = session.exec(
        select(Payment).where(
            Payment.status == "paid", col(Payment.paid_at) >= start, col(Payment.paid_at) < end
        )
    ).all()
    refunds = session.exec(
        select(LedgerEntry, Payment)
        .join(Payment, col(Payment.id) == col(LedgerEntry.payment_id))
        .where(LedgerEntry.kind == "refund", LedgerEntry.posted_at >= start, LedgerEntry.posted_at < end)
    ).all()
    lines = [
        ReconLine(
            p.paid_at or p.created_at,
            "payment",
            p.processor,
            _processor_id(p),
            p.amount_cents,
            p.public_id,
            p.channel,
        )
        for p in paid
    ] + [
        ReconLine(
            e.posted_at, "refund", p.processor, _processor_id(p), -e.amount_cents, p.public_id, p.channel
        )
        for e, p in refunds
    ]
    return sorted(lines, key=lambda line: (line.at, line.kind, line.processor_id))


def _day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), zone).astimezone(UTC)
    return start, datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def daily(
    session: Session,
    person: Person,
    day: date,
    zone: ZoneInfo,
    provenance: Provenance,
    *,
    action: str = "view",
) -> DailyReport:
    """The clinic day's payments and refunds, for billing staff; one audit event per report (it names no
    patient: amounts and processor ids only)."""
    access.require_screen(person, Screen.BILLING)
    lines = lines_between(session, *_day_bounds(day, zone))
    totals: dict[str, int] = {}
    for line in lines:
        totals[line.processor] = totals.get(line.processor, 0) + line.amount_cents
    audit.record(
        session,
        action=action,
        actor_person_id=person.id,
        actor_role=person.staff_role,
        resource_type="PaymentReconciliation",
        resource_id=day.isoformat(),
        provenance=provenance,
    )
    return DailyReport(day, lines, totals)


def report_csv(report: DailyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in report.lines:
        # Every cell from outside (a processor's id) defused; the amount is the portal's own number.
        amount = f"{Decimal(line.amount_cents) / 100:.2f}"
        cells = [csv_cell(v) for v in (line.at, line.kind, line.processor, line.processor_id)]
        writer.writerow([*cells, amount, csv_cell(line.payment_public_id), csv_cell(line.channel)])
    return out.getvalue()


# ---------------------------------------------------------------------------------------------- FHIR


def reconciliation_id(processor: str, day: date) -> str:
    return f"recon-{processor}-{day.isoformat()}"


def payment_notice(payment: Payment, patient: Patient) -> dict[str, Any]:
    paid_at = payment.paid_at or payment.created_at
    notice: dict[str, Any] = {
        "resourceType": "PaymentNotice",
        "id": "payment-" + payment.public_id.replace("_", "."),  # FHIR ids have no "_"
        "identifier": [
            {"system": "urn:portal:payment", "value": payment.public_id},
            {"system": f"urn:portal:processor:{payment.processor}", "value": _processor_id(payment)},
        ],
        "status": "active",
        "request": {"reference": f"Patient/{patient.fhir_id}"},
        "created": paid_at.astimezone(UTC).isoformat(),
        "payment": {
            "reference": f"PaymentReconciliation/{reconciliation_id(payment.processor, paid_at.date())}"
        },
        "paymentDate": paid_at.date().isoformat(),
        "recipient": RECIPIENT,
        "amount": money(payment.amount_cents),
    }
    if payment.refunded_cents:
        notice["paymentStatus"] = {"text": f"refunded {Decimal(payment.refunded_cents) / 100:.2f}"}
    return notice


def keep_notice(session: Session, scope: PatientScope, payment: Payment) -> None:
    """Store (or bring up to date) the payment's PaymentNotice among the patient's FHIR resources."""
    resource = payment_notice(payment, scope.patient)
    text = json.dumps(resource, sort_keys=True, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    row = session.exec(
        select(FhirResource).where(
            FhirResource.resource_type == "PaymentNotice", FhirResource.fhir_id == resource["id"]
        )
    ).first()
    if row is None:
        row = FhirResource(
            resource_type="PaymentNotice",
            fhir_id=resource["id"],
            patient_id=scope.patient_id,
            content_hash=digest,
            resource_json=text,
        )
        session.add(row)
    elif row.content_hash != digest:
        row.content_hash, row.resource_json, row.updated_at = digest, text, scope.now
    session.flush()


def export_since(session: Session, since: datetime) -> Iterator[dict[str, Any]]:
    """PaymentNotice for every payment paid since `since`, then a PaymentReconciliation per processor
    and (UTC) day with each payment and refund as a detail."""
    end = datetime.now(UTC) + timedelta(days=1)
    for payment, patient in session.exec(
        select(Payment, Patient)
        .join(Patient, col(Patient.id) == col(Payment.patient_id))
        .where(Payment.status == "paid", col(Payment.paid_at) >= since)
        .order_by(col(Payment.paid_at))
    ):
        yield payment_notice(payment, patient)
    groups: dict[tuple[str, date], list[ReconLine]] = {}
    for line in lines_between(session, since, end):
        groups.setdefault((line.processor, line.at.astimezone(UTC).date()), []).append(line)
    for (processor, day), lines in sorted(groups.items()):
        yield {
            "resourceType": "PaymentReconciliation",
            "id": reconciliation_id(processor, day),
            "status": "active",
            "created": datetime.now(UTC).isoformat(),
            "paymentDate": day.isoformat(),
            "paymentAmount": money(sum(line.amount_cents for line in lines)),
            "paymentIdentifier": {"system": f"urn:portal:processor:{processor}", "value": day.isoformat()},
            "detail": [
                {
                    "identifier": {"system": f"urn:portal:processor:{processor}", "value": line.processor_id},
                    "type": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/payment-type",
                                "code": "payment" if line.kind == "payment" else "adjustment",
                            }
                        ],
                        "text": line.kind,
                    },
                    "date": line.at.astimezone(UTC).date().isoformat(),
                    "amount": money(line.amount_cents),
                }
                for line in lines
            ],
        }
