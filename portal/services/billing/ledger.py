"""The ledger: each patient's entries in integer cents, and the balance that is always their sum.

Visits arrive from the EHR's ExplanationOfBenefit resources (already stored in fhir_resource by the FHIR
import) or from a CSV statement file; each becomes a `BilledVisit` and two entries, the charge and the
insurance adjustment, whose keys name their source. Importing the same visit again adds nothing; a visit
whose amounts changed gets a correcting entry for the difference, so the ledger is never rewritten.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from portal.models.billing import BilledVisit, LedgerEntry, Statement
from portal.models.records import Encounter, FhirResource
from portal.services.access import PatientScope
from portal.services.billing.money import cents_from_decimal

# Adjudication categories that are the patient's share (HL7 adjudication code system, CARIN Blue Button,
# and the CMS Blue Button line variables Synthea writes).
PATIENT_SHARE_CODES = frozenset(
    {
        "copay",
        "deductible",
        "coinsurance",
        "noncovered",
        "memberliability",
        "https://bluebutton.cms.gov/resources/variables/line_coinsrnc_amt",
        "https://bluebutton.cms.gov/resources/variables/line_bene_ptb_ddctbl_amt",
    }
)
INSURANCE_PAID_CODES = frozenset(
    {"benefit", "paidtoprovider", "https://bluebutton.cms.gov/resources/variables/line_prvdr_pmt_amt"}
)
SUBMITTED_CODES = frozenset(
    {"submitted", "https://bluebutton.cms.gov/resources/variables/line_sbmtd_chrg_amt"}
)
STATEMENT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: read off paper


@dataclass(frozen=True)
class VisitBill:
    """One visit's bill as a source states it (an ExplanationOfBenefit or a CSV line)."""

    source_key: str
    service_date: date
    provider: str
    description: str
    billed_cents: int
    insurance_paid_cents: int
    patient_share_cents: int
    confidential: bool = False


def balance(session: Session, scope: PatientScope) -> int:
    """What the patient owes now, in cents: the sum of every entry (negative is a credit)."""
    total = session.exec(
        select(func.coalesce(func.sum(LedgerEntry.amount_cents), 0)).where(
            LedgerEntry.patient_id == scope.patient_id
        )
    ).one()
    return int(total)


def post(
    session: Session,
    scope: PatientScope,
    *,
    kind: str,
    amount_cents: int,
    entry_key: str,
    visit_id: int | None = None,
    payment_id: int | None = None,
    reason: str | None = None,
    by_person_id: int | None = None,
    posted_at: datetime | None = None,
) -> LedgerEntry | None:
    """Add one entry unless an entry with this key exists (then None: it was already posted)."""
    if session.exec(select(LedgerEntry.id).where(LedgerEntry.entry_key == entry_key)).first() is not None:
        return None
    entry = LedgerEntry(
        patient_id=scope.patient_id,
        visit_id=visit_id,
        payment_id=payment_id,
        kind=kind,
        amount_cents=amount_cents,
        entry_key=entry_key,
        reason=reason,
        by_person_id=by_person_id,
        posted_at=posted_at or scope.now,
    )
    session.add(entry)
    session.flush()
    ensure_statement(session, scope, entry.posted_at)
    return entry


def record_visit(session: Session, scope: PatientScope, bill: VisitBill) -> BilledVisit:
    """Store or update one visit's bill and bring its charge and adjustment entries to what it says."""
    visit = session.exec(select(BilledVisit).where(BilledVisit.source_key == bill.source_key)).first()
    if visit is None:
        visit = BilledVisit(
            patient_id=scope.patient_id, source_key=bill.source_key, service_date=bill.service_date
        )
        session.add(visit)
    elif visit.patient_id != scope.patient_id:
        raise ValueError("a visit's source belongs to another patient")
    visit.service_date = bill.service_date
    visit.provider = bill.provider[:200]
    visit.description = bill.description[:200]
    visit.billed_cents = bill.billed_cents
    visit.insurance_paid_cents = bill.insurance_paid_cents
    visit.patient_share_cents = bill.patient_share_cents
    visit.confidential = bill.confidential
    visit.updated_at = scope.now
    session.flush()
    assert visit.id is not None
    wanted = {
        "charge": bill.billed_cents,
        "insurance_adjustment": bill.patient_share_cents - bill.billed_cents,
    }
    for kind, amount in wanted.items():
        posted = session.exec(
            select(LedgerEntry.amount_cents).where(LedgerEntry.visit_id == visit.id, LedgerEntry.kind == kind)
        ).all()
        difference = amount - sum(posted)
        if difference or not posted:
            revision = f":correction:{len(posted)}" if posted else ""
            post(
                session,
                scope,
                kind=kind,
                amount_cents=difference,
                entry_key=f"{bill.source_key}:{kind}{revision}",
                visit_id=visit.id,
            )
    return visit


def ensure_statement(session: Session, scope: PatientScope, when: datetime) -> Statement:
    """The statement of the month `when` falls in (made, with its guest-pay code, on its first entry)."""
    month = when.strftime("%Y-%m")
    found = session.exec(
        select(Statement).where(Statement.patient_id == scope.patient_id, Statement.month == month)
    ).first()
    if found is not None:
        return found
    statement = Statement(patient_id=scope.patient_id, month=month, code=new_statement_code())
    session.add(statement)
    session.flush()
    return statement


def new_statement_code() -> str:
    """Ten characters from an alphabet without look-alikes, shown as XXXXX-XXXXX (50 bits)."""
    raw = "".join(secrets.choice(STATEMENT_CODE_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


# ------------------------------------------------------------------------------ from the EHR's claims


def sync_from_fhir(session: Session, scope: PatientScope) -> int:
    """Bring the ledger up to date with the patient's imported ExplanationOfBenefit resources; returns how
    many visits were looked at. Running it again changes nothing."""
    rows = session.exec(
        select(FhirResource).where(
            FhirResource.patient_id == scope.patient_id,
            FhirResource.resource_type == "ExplanationOfBenefit",
        )
    ).all()
    for row in rows:
        bill = bill_from_eob(session, scope, row)
        if bill is not None:
            record_visit(session, scope, bill)
    return len(rows)


def bill_from_eob(session: Session, scope: PatientScope, row: FhirResource) -> VisitBill | None:
    """One visit's bill from an ExplanationOfBenefit: the patient's share from the adjudication."""
    resource: dict[str, Any] = json.loads(row.resource_json, parse_float=Decimal)
    items = [item for item in resource.get("item", []) if isinstance(item, dict)]
    billed = insurance = share = 0
    any_share = any_insurance = False
    for item in items:
        adjudications = {_category(a): a for a in item.get("adjudication", []) if isinstance(a, dict)}
        submitted = next((adjudications[c] for c in SUBMITTED_CODES if c in adjudications), None)
        if submitted is not None:
            billed += _amount(submitted.get("amount"))
        else:
            billed += _amount(item.get("net"))
        for code, adjudication in adjudications.items():
            if code in PATIENT_SHARE_CODES:
                share += _amount(adjudication.get("amount"))
                any_share = True
            elif code in INSURANCE_PAID_CODES:
                insurance += _amount(adjudication.get("amount"))
                any_insurance = True
    if billed == 0:
        billed = sum(
            _amount(total.get("amount"))
            for total in resource.get("total", [])
            if isinstance(total, dict) and _category(total) in SUBMITTED_CODES
        )
    if not any_insurance:
        insurance = _amount((resource.get("payment") or {}).get("amount"))
    if not any_share:
        share = billed - insurance
    insurance = max(0, min(insurance, billed))
    share = max(0, min(share, billed))
    encounter = _encounter(session, scope, items)
    served = _service_date(resource, items) or (
        encounter.start_at.date() if encounter and encounter.start_at else None
    )
    if served is None:
        return None
    description = _text_of(items[0].get("productOrService")) if items else ""
    provider = _provider_name(session, resource) or (encounter.practitioner if encounter else None) or ""
    confidential = row.confidential_reason is not None or bool(encounter and encounter.confidential)
    return VisitBill(
        source_key=f"eob:{row.fhir_id}",
        service_date=served,
        provider=provider,
        description=(encounter.display if encounter and encounter.display else description),
        billed_cents=billed,
        insurance_paid_cents=insurance,
        patient_share_cents=share,
        confidential=confidential,
    )


def _category(node: dict[str, Any]) -> str:
    codings = (node.get("category") or {}).get("coding") or []
    return str(codings[0].get("code", "")) if codings and isinstance(codings[0], dict) else ""


def _amount(money: Any) -> int:
    if not isinstance(money, dict) or money.get("value") is None:
        return 0
    return cents_from_decimal(money["value"])


def _text_of(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    codings = concept.get("coding") or [{}]
    return str(concept.get("text") or codings[0].get("display") or "")


def _service_date(resource: dict[str, Any], items: list[dict[str, Any]]) -> date | None:
    candidates = [
        *(item.get("servicedDate") for item in items),
        *((item.get("servicedPeriod") or {}).get("start") for item in items),
        (resource.get("billablePeriod") or {}).get("start"),
        resource.get("created"),
    ]
    for value in candidates:
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None


def _reference_id(reference: Any) -> str | None:
    text = reference.get("reference") if isinstance(reference, dict) else None
    if not isinstance(text, str) or text.startswith("#"):
        return None
    return text.rsplit("/", 1)[-1].removeprefix("urn:uuid:")[:64]


def _encounter(session: Session, scope: PatientScope, items: list[dict[str, Any]]) -> Encounter | None:
    for item in items:
        for reference in item.get("encounter", []) or []:
            fhir_id = _reference_id(reference)
            if fhir_id is None:
                continue
            found = session.exec(
                select(Encounter).where(
                    Encounter.patient_id == scope.patient_id, Encounter.fhir_id == fhir_id
                )
            ).first()
            if found is not None:
                return found
    return None


def _provider_name(session: Session, resource: dict[str, Any]) -> str | None:
    references = [resource.get("provider")] + [
        member.get("provider") for member in resource.get("careTeam", []) if isinstance(member, dict)
    ]
    for reference in references:
        fhir_id = _reference_id(reference)
        if fhir_id is None:
            continue
        label = session.exec(
            select(FhirResource.label).where(
                FhirResource.fhir_id == fhir_id,
                col(FhirResource.resource_type).in_(("Practitioner", "Organization", "PractitionerRole")),
            )
        ).first()
        if label:
            return label
    for reference in references:
        if isinstance(reference, dict) and isinstance(reference.get("display"), str):
            return str(reference["display"])
    return None
