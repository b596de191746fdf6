"""The Billing page through the door: balance by visit, statements and receipts, paying through the demo
processor's hosted page, and a teen's confidential visit kept off the parent's view."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date, timedelta

import pytest
from sqlmodel import func, select

from portal.models import AuditEvent, LedgerEntry, Payment, ProxyGrant
from portal.services.billing import ledger
from portal.services.billing.ledger import VisitBill
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.scopes import operator_scope


def add_visit(session, patient, key, share, *, confidential=False, description="Office visit", day=None):
    scope = operator_scope(session, patient)
    served = day or date.today() - timedelta(days=3)
    ledger.record_visit(
        session,
        scope,
        VisitBill(key, served, "Dr Ana Ruiz", description, share + 10_000, 10_000, share, confidential),
    )
    session.commit()


@pytest.fixture
def family(session):
    parent = make_person(session, display_name="Pat Parent", email="parent@example.org")
    teen = make_patient(
        session, given_name="Tess", birth_date=date.today().replace(year=date.today().year - 15)
    )
    child = make_patient(
        session, given_name="Kit", birth_date=date.today().replace(year=date.today().year - 6)
    )
    for patient in (teen, child):
        session.add(
            ProxyGrant(
                proxy_person_id=parent.id,
                patient_id=patient.id,
                relationship="parent",
                starts_on=date(2000, 1, 1),
            )
        )
    session.commit()
    return {"parent": parent, "teen": teen, "child": child}


def test_the_parent_sees_the_childs_balance_by_visit(client, session, family) -> None:
    add_visit(session, family["child"], "csv:K1", 5_000)
    log_in(client, session, family["parent"])

    response = client.get(f"/p/{family['child'].public_id}/billing")

    assert response.status_code == 200
    assert "$50.00" in response.text and "Office visit" in response.text and "Dr Ana Ruiz" in response.text


def test_a_teens_confidential_visit_is_one_line_on_the_parents_view_but_in_the_balance(
    client, session, family
) -> None:
    add_visit(session, family["teen"], "csv:T1", 3_000)
    add_visit(session, family["teen"], "csv:T2", 7_000, confidential=True, description="Private clinic 9q")
    log_in(client, session, family["parent"])

    page = client.get(f"/p/{family['teen'].public_id}/billing")
    statement = client.get(f"/p/{family['teen'].public_id}/billing/statement")

    assert "Private clinic 9q" not in page.text and "Confidential services" in page.text
    assert "$100.00" in page.text  # the balance still counts it
    assert statement.status_code == 200 and statement.headers["content-type"] == "application/pdf"
    if shutil.which("pdftotext"):
        assert "Private clinic 9q" not in pdf_text(statement.content)


def test_the_teen_sees_their_own_confidential_visit(client, session, family) -> None:
    teen_person = make_person(session, display_name="Tess")
    family["teen"].person_id = teen_person.id
    session.add(family["teen"])
    session.commit()
    add_visit(session, family["teen"], "csv:T3", 7_000, confidential=True, description="Private clinic 9q")
    log_in(client, session, teen_person)

    page = client.get(f"/p/{family['teen'].public_id}/billing")

    assert "Private clinic 9q" in page.text


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


def pay_form_key(html: str) -> str:
    match = re.search(r'name="key" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_paying_part_through_the_demo_processor_posts_one_payment(client, session, family) -> None:
    child = family["child"]
    add_visit(session, child, "csv:K2", 5_000)
    log_in(client, session, family["parent"])
    key = pay_form_key(client.get(f"/p/{child.public_id}/billing").text)

    started = form_post(
        client,
        f"/p/{child.public_id}/billing/pay",
        {"how": "part", "amount": "20.00", "key": key},
        follow_redirects=False,
    )
    again = form_post(
        client,
        f"/p/{child.public_id}/billing/pay",
        {"how": "part", "amount": "20.00", "key": key},
        follow_redirects=False,
    )
    hosted = client.get(started.headers["location"])
    payment_id = session.exec(select(Payment.public_id)).one()
    session.commit()  # end the read: SQLite lets one writer in at a time
    returned_early = client.get(f"/p/{child.public_id}/billing?payment={payment_id}")

    assert started.status_code == 303 and again.headers["location"] == started.headers["location"]
    assert "No money moves" in hosted.text or "no money moves" in hosted.text.lower()
    assert "waiting for the card company" in returned_early.text  # the return alone marks nothing paid
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Payment)).one() == 1
    session.commit()

    paid = form_post(client, started.headers["location"], {})
    form_post(client, started.headers["location"], {})  # the demo event again: nothing more

    assert paid.status_code == 200 and "We got your payment of $20.00" in paid.text
    session.expire_all()
    assert ledger.balance(session, operator_scope(session, child)) == 3_000
    payments = session.exec(select(LedgerEntry).where(LedgerEntry.kind == "payment")).all()
    assert [p.amount_cents for p in payments] == [-2_000]


def test_the_receipt_names_amount_date_and_statement(client, session, family) -> None:
    child = family["child"]
    add_visit(session, child, "csv:K3", 5_000)
    log_in(client, session, family["parent"])
    key = pay_form_key(client.get(f"/p/{child.public_id}/billing").text)
    started = form_post(
        client, f"/p/{child.public_id}/billing/pay", {"how": "all", "key": key}, follow_redirects=False
    )
    form_post(client, started.headers["location"], {})
    payment = session.exec(select(Payment)).one()
    session.commit()

    receipt = client.get(f"/p/{child.public_id}/billing/receipts/{payment.public_id}")

    assert receipt.status_code == 200 and receipt.headers["content-type"] == "application/pdf"
    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext is not installed")
    text = pdf_text(receipt.content)
    assert "$50.00" in text and "Statement" in text and str(date.today().year) in text


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"how": "part", "amount": "ten"}, "dollars and cents"),
        ({"how": "part", "amount": "500.00"}, "more than you owe"),
        ({"how": "part", "amount": "0.50"}, "smallest payment"),
    ],
)
def test_a_bad_amount_is_refused_with_a_message_and_nothing_stored(
    client, session, family, form, words
) -> None:
    child = family["child"]
    add_visit(session, child, "csv:K4", 5_000)
    log_in(client, session, family["parent"])
    key = pay_form_key(client.get(f"/p/{child.public_id}/billing").text)

    response = form_post(client, f"/p/{child.public_id}/billing/pay", {**form, "key": key})

    assert response.status_code == 400 and words in response.text
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Payment)).one() == 0


def test_a_stranger_gets_404_and_a_denied_event(client, session, family) -> None:
    stranger = make_person(session, display_name="Stranger")
    add_visit(session, family["child"], "csv:K5", 5_000)
    log_in(client, session, stranger)

    response = client.get(f"/p/{family['child'].public_id}/billing")

    assert response.status_code == 404
    last = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (last.outcome, last.actor_person_id) == ("denied", stranger.id)


def test_production_refuses_the_demo_processor(settings) -> None:
    from portal.config import ConfigError
    from portal.services.billing import processors

    production = settings.with_overrides(env="production", extra={"PORTAL_PAYMENT_PROCESSOR": "demo"})

    with pytest.raises(ConfigError, match="demo payment processor"):
        processors.check_settings(production)
