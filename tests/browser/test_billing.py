"""Billing in a real Chromium at 320 px: a parent pays part of a child's balance through the demo
processor (axe clean on the way), the receipt PDF names the amount, the date and the statement; guest pay
with a wrong date of birth five times locks the statement's code."""

from __future__ import annotations

import shutil
import subprocess
from datetime import date

import pytest
from playwright.sync_api import expect
from sqlmodel import Session, select

from portal.models import Payment, Statement
from tests.billing_data import add_bill
from tests.browser.reach_helpers import (
    NARROW_WIDTH,
    add_patient,
    add_person,
    add_proxy_grant,
    axe_violations,
    narrow_overflow,
    sign_in_as,
    years_ago,
)


def a_child_with_a_bill(live_server, share_cents: int = 8_000):
    with Session(live_server.engine, expire_on_commit=False) as session, session.begin():
        parent = add_person(session, "Pat Payer")
        child = add_patient(session, "Kit", "Billington", years_ago(7))
        add_proxy_grant(session, parent, child)
        add_bill(session, child, share_cents, description="Well child visit", served=date.today())
        statement = session.exec(select(Statement).where(Statement.patient_id == child.id)).one()
    return parent, child, statement


def check_page(page) -> None:
    assert axe_violations(page) == []
    assert narrow_overflow(page) == []


def test_a_parent_pays_part_of_a_childs_balance_at_320_px(live_server, context, page, tmp_path) -> None:
    parent, child, statement = a_child_with_a_bill(live_server)
    sign_in_as(live_server, context, parent.id)
    page.set_viewport_size({"width": NARROW_WIDTH, "height": 720})

    page.goto(f"{live_server.url}/p/{child.public_id}/billing")
    expect(page.get_by_text("$80.00").first).to_be_visible()
    check_page(page)
    page.get_by_label("Part of it").check()
    page.get_by_label("Amount to pay, in dollars").fill("25.50")
    page.get_by_role("button", name="Go to the payment page").click()

    expect(page.get_by_role("heading", name="Demo payment page")).to_be_visible()
    check_page(page)
    page.get_by_role("button", name="Pay (demo)").click()

    expect(page.get_by_text("We got your payment of $25.50")).to_be_visible()
    expect(page.get_by_text("$54.50").first).to_be_visible()
    check_page(page)

    with Session(live_server.engine) as session:
        payment = session.exec(select(Payment).where(Payment.patient_id == child.id)).one()
        assert payment.status == "paid"
    receipt = context.request.get(
        f"{live_server.url}/p/{child.public_id}/billing/receipts/{payment.public_id}"
    )
    assert receipt.status == 200 and receipt.headers["content-type"] == "application/pdf"
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed (make test installs poppler-utils)")
    path = tmp_path / "receipt.pdf"
    path.write_bytes(receipt.body())
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "$25.50" in text
    assert str(date.today().year) in text
    assert f"Statement code {statement.code}" in " ".join(text.split())


def test_guest_pay_locks_the_code_after_five_wrong_birth_dates(live_server, context, page) -> None:
    _, _, statement = a_child_with_a_bill(live_server)
    page.set_viewport_size({"width": NARROW_WIDTH, "height": 720})
    page.goto(f"{live_server.url}/billing/guest")
    check_page(page)

    for _ in range(5):
        page.get_by_label("Statement code").fill(statement.code)
        page.get_by_label("Patient's date of birth").fill("1999-09-09")
        page.get_by_role("button", name="See the statement").click()
        expect(page.get_by_role("alert")).to_be_visible()
    check_page(page)
    page.get_by_label("Statement code").fill(statement.code)
    page.get_by_label("Patient's date of birth").fill(years_ago(7).isoformat())
    page.get_by_role("button", name="See the statement").click()

    expect(page.get_by_role("alert")).to_contain_text("no longer works")
    expect(page.get_by_text("Well child visit")).to_have_count(0)
    with Session(live_server.engine) as session:
        assert session.get(Statement, statement.id).locked_at is not None
