"""Reconciliation: the day's payments and refunds by processor id (screen and formula-safe CSV), the
PaymentNotice/PaymentReconciliation NDJSON export, and payments in `portal export-fhir`."""

from __future__ import annotations

import csv
import io
import json
from datetime import date

import pytest
from fhir.resources.R4B.paymentnotice import PaymentNotice
from fhir.resources.R4B.paymentreconciliation import PaymentReconciliation
from sqlmodel import select

from portal.models import AuditEvent, Payment
from portal.services.billing import payments
from tests.audit_helpers import run_cli
from tests.billing_data import add_bill, add_paid_payment
from tests.conftest import log_in, make_patient, make_person
from tests.scopes import operator_scope


@pytest.fixture
def day(session):
    """A patient with two card payments today, one partly refunded, and one whose processor id would be a
    spreadsheet formula."""
    patient = make_patient(session, fhir_id="recon-pat", birth_date=date(1980, 1, 1))
    add_bill(session, patient, 30_000)
    first = add_paid_payment(session, patient, 5_000)
    odd = add_paid_payment(session, patient, 2_500)
    odd.processor_payment_id = '=HYPERLINK("http://x")'
    scope = operator_scope(session, patient)
    payments.refund_to(session, scope, first, total_refunded=1_500, why="processor refund")
    session.commit()
    return {"patient": patient, "first": first, "odd": odd}


def test_the_screen_lists_payments_and_refunds_by_processor_id(client, session, day) -> None:
    clerk = make_person(session, staff_role="billing")
    log_in(client, session, clerk)

    page = client.get("/billing/reconciliation")

    assert page.status_code == 200
    assert day["first"].processor_payment_id in page.text
    assert "demo: $60.00" in page.text  # 50 + 25 - 15
    assert "-$15.00" in page.text
    event = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.resource_type, event.actor_person_id) == (
        "view",
        "PaymentReconciliation",
        clerk.id,
    )


def test_the_csv_is_formula_safe_and_adds_up(client, session, day) -> None:
    log_in(client, session, make_person(session, staff_role="billing"))

    response = client.get(f"/billing/reconciliation.csv?day={date.today().isoformat()}")

    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(row["amount"] for row in rows) == ["-15.00", "25.00", "50.00"]
    assert '\'=HYPERLINK("http://x")' in [row["processor_id"] for row in rows]


@pytest.mark.parametrize("role", ["front_desk", "clinician", "admin", None])
def test_only_the_billing_office_sees_the_report(client, session, day, role) -> None:
    log_in(client, session, make_person(session, staff_role=role))

    assert client.get("/billing/reconciliation").status_code == 403
    assert client.get("/billing/reconciliation.csv").status_code == 403


def test_a_bad_day_is_a_400(client, session, day) -> None:
    log_in(client, session, make_person(session, staff_role="billing"))

    assert client.get("/billing/reconciliation?day=2026-02-30").status_code == 400


def test_the_export_prints_valid_payment_notices_and_reconciliations(settings, session, day) -> None:
    result = run_cli(settings, "billing", "export", "--since", "2000-01-01")

    assert result.exit_code == 0
    resources = [json.loads(line) for line in result.output.splitlines()]
    notices = [PaymentNotice.model_validate(r) for r in resources if r["resourceType"] == "PaymentNotice"]
    recons = [
        PaymentReconciliation.model_validate(r)
        for r in resources
        if r["resourceType"] == "PaymentReconciliation"
    ]
    assert sorted(float(n.amount.value) for n in notices) == [25.0, 50.0]
    assert [float(r.paymentAmount.value) for r in recons] == [60.0]
    assert len(recons[0].detail) == 3
    session.expire_all()
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "export")).one().actor_role == "system"


def test_nothing_since_tomorrow_and_a_bad_date_is_refused(settings, day) -> None:
    assert run_cli(settings, "billing", "export", "--since", "2999-01-01").output == ""
    assert run_cli(settings, "billing", "export", "--since", "yesterday").exit_code != 0


def test_export_fhir_carries_the_patients_payments(settings, session, day) -> None:
    result = run_cli(settings, "export-fhir", "recon-pat")

    assert result.exit_code == 0
    bundle = json.loads(result.stdout)
    notices = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "PaymentNotice"]
    assert len(notices) == 2
    refunded = next(n for n in notices if n["amount"]["value"] == 50.0)
    assert refunded["paymentStatus"]["text"] == "refunded 15.00"
    for notice in notices:
        PaymentNotice.model_validate(notice)
    assert session.exec(select(Payment)).all()
