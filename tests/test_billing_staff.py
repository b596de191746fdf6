"""The billing office: account search, ledger, desk payments, refunds, write-offs and plans, all audited,
and none of it open to patients or guarantors."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import func, select

from portal.models import AuditEvent, LedgerEntry, Payment, PaymentPlan, PlanInstalment
from portal.services.billing import ledger
from tests.billing_data import add_bill, add_paid_payment
from tests.conftest import form_post, log_in, make_patient, make_person
from tests.scopes import operator_scope


@pytest.fixture
def office(session):
    clerk = make_person(session, display_name="Bea Biller", staff_role="billing")
    patient = make_patient(session, given_name="Ada", family_name="Ledgerly", birth_date=date(1970, 4, 2))
    add_bill(session, patient, 20_000, description="Knee visit")
    paid = add_paid_payment(session, patient, 5_000)
    session.commit()
    return {"clerk": clerk, "patient": patient, "paid": paid}


def balance(session, patient) -> int:
    session.expire_all()
    found = ledger.balance(session, operator_scope(session, patient))
    session.commit()
    return found


def key_of(html: str) -> str:
    return re.search(r'name="key" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]


def last_events(session, count: int) -> list[tuple[str, str, str | None]]:
    session.expire_all()
    found = session.exec(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(count)).all()
    session.commit()
    return [(e.action, e.outcome, e.actor_role) for e in reversed(found)]


def test_the_search_finds_the_account_and_audits_each_patient_shown(client, session, office) -> None:
    log_in(client, session, office["clerk"])

    found = form_post(client, "/billing/accounts", {"name": "ledg", "birth_date": "1970-04-02"})

    assert found.status_code == 200 and f"/p/{office['patient'].public_id}/billing/ledger" in found.text
    assert last_events(session, 1) == [("view", "allowed", "billing")]


def test_the_ledger_shows_every_entry_and_payment(client, session, office) -> None:
    log_in(client, session, office["clerk"])

    page = client.get(f"/p/{office['patient'].public_id}/billing/ledger")

    assert page.status_code == 200 and "$150.00" in page.text and "insurance adjustment" in page.text
    assert "demo (portal)" in page.text


def test_cash_at_the_desk_is_paid_once_even_when_sent_twice(client, session, office) -> None:
    patient = office["patient"]
    log_in(client, session, office["clerk"])
    key = key_of(client.get(f"/p/{patient.public_id}/billing/ledger").text)
    form = {"method": "cash", "amount": "40.00", "key": key}

    first = form_post(client, f"/p/{patient.public_id}/billing/desk-payment", form)
    second = form_post(client, f"/p/{patient.public_id}/billing/desk-payment", form)

    assert first.status_code == second.status_code == 200
    assert balance(session, patient) == 11_000
    cash = session.exec(select(Payment).where(Payment.processor == "cash")).one()
    assert (cash.status, cash.channel, cash.by_person_id) == ("paid", "desk", office["clerk"].id)
    session.commit()


def test_a_refund_adds_its_entry_once_and_never_more_than_was_paid(client, session, office) -> None:
    patient, paid = office["patient"], office["paid"]
    log_in(client, session, office["clerk"])
    url = f"/p/{patient.public_id}/billing/payments/{paid.public_id}/refund"
    key = key_of(client.get(f"/p/{patient.public_id}/billing/ledger").text)

    done = form_post(client, url, {"amount": "20.00", "key": key})
    form_post(client, url, {"amount": "20.00", "key": key})
    too_much = form_post(client, url, {"amount": "31.00", "key": key + "x"})

    assert done.status_code == 200 and too_much.status_code == 400 and "more than is left" in too_much.text
    assert balance(session, patient) == 17_000
    assert session.exec(select(func.count()).where(LedgerEntry.kind == "refund")).one() == 1
    session.commit()


def test_a_write_off_needs_a_reason_and_keeps_it(client, session, office) -> None:
    patient = office["patient"]
    log_in(client, session, office["clerk"])
    key = key_of(client.get(f"/p/{patient.public_id}/billing/ledger").text)
    url = f"/p/{patient.public_id}/billing/write-off"

    missing = form_post(client, url, {"amount": "50.00", "reason": " ", "key": key})
    done = form_post(client, url, {"amount": "50.00", "reason": "Financial hardship", "key": key})

    assert missing.status_code == 400 and "reason" in missing.text
    assert done.status_code == 200 and balance(session, patient) == 10_000
    entry = session.exec(select(LedgerEntry).where(LedgerEntry.kind == "write_off")).one()
    assert (entry.reason, entry.by_person_id) == ("Financial hardship", office["clerk"].id)
    assert ("write-off", "allowed", "billing") in last_events(session, 3), last_events(session, 5)
    session.commit()


@pytest.mark.parametrize(
    ("months", "words"), [("1", "2 to 12 months"), ("13", "2 to 12 months"), ("12", "at least $25.00")]
)
def test_a_plan_outside_the_clinics_rules_is_refused(client, session, office, months, words) -> None:
    log_in(client, session, office["clerk"])

    response = form_post(client, f"/p/{office['patient'].public_id}/billing/plan", {"months": months})

    assert response.status_code == 400 and words in response.text
    assert session.exec(select(func.count()).select_from(PaymentPlan)).one() == 0


def test_a_plan_splits_the_balance_into_monthly_instalments(client, session, office) -> None:
    log_in(client, session, office["clerk"])

    response = form_post(client, f"/p/{office['patient'].public_id}/billing/plan", {"months": "4"})

    assert response.status_code == 200
    amounts = session.exec(select(PlanInstalment.amount_cents).order_by(PlanInstalment.number)).all()
    assert amounts == [3_750] * 4
    assert ("payment-plan", "allowed", "billing") in last_events(session, 3)


@pytest.mark.parametrize("who", ["patient", "front_desk"])
def test_the_patient_and_other_staff_cannot_use_the_office(client, session, office, who) -> None:
    patient = office["patient"]
    if who == "patient":
        person = make_person(session, display_name="Ada")
        patient.person_id = person.id
        session.add(patient)
        session.commit()
    else:
        person = make_person(session, display_name="Desk", staff_role="front_desk")
    log_in(client, session, person)

    ledger_page = client.get(f"/p/{patient.public_id}/billing/ledger")
    write_off = form_post(
        client,
        f"/p/{patient.public_id}/billing/write-off",
        {"amount": "50.00", "reason": "x", "key": "k" * 24},
    )
    search = client.get("/billing/accounts")

    assert (ledger_page.status_code, write_off.status_code, search.status_code) == (404, 404, 403)
    assert balance(session, patient) == 15_000
