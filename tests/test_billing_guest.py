"""Guest pay: a paper statement paid with its code and the patient's date of birth, no account; five wrong
dates of birth lock the code; every try audited; the page shows that statement only."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlmodel import func, select

from portal.models import AuditEvent, Payment, Statement
from portal.services.billing import ledger
from tests.billing_data import add_bill
from tests.conftest import form_post, make_patient
from tests.scopes import operator_scope

BORN = date(2015, 3, 9)


@pytest.fixture
def statement(session):
    """A child with two visits this month (one confidential) and their statement."""
    child = make_patient(session, given_name="Kit", family_name="Guestova", birth_date=BORN)
    today = date.today()
    add_bill(session, child, 5_000, description="Well child visit", served=today)
    add_bill(session, child, 3_000, description="Private clinic 9q", confidential=True, served=today)
    found = session.exec(select(Statement).where(Statement.patient_id == child.id)).one()
    session.commit()
    return {"child": child, "statement": found}


def check(client, code: str, born: str):
    return form_post(client, "/billing/guest", {"code": code, "birth_date": born})


def pay_fields(html: str) -> dict[str, str]:
    return {
        name: re.search(rf'name="{name}" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
        for name in ("key", "pass")
    }


def events(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    found = list(session.exec(select(AuditEvent).where(AuditEvent.action == action)))
    session.commit()
    return found


def test_the_code_and_birth_date_show_that_statement_only(client, session, statement) -> None:
    code = statement["statement"].code

    page = check(client, code.lower().replace("-", " "), BORN.isoformat())

    assert page.status_code == 200
    assert "$80.00" in page.text and "Well child visit" in page.text
    assert "Private clinic 9q" not in page.text and "Confidential services" in page.text
    assert "Guestova" not in page.text  # the statement, not the chart: no name, no switcher
    viewed = [e for e in events(session, "view") if e.actor_role == "guest"]
    assert [(e.patient_id, e.outcome, e.resource_id) for e in viewed] == [
        (statement["child"].id, "allowed", statement["statement"].public_id)
    ]


def test_a_guest_pays_part_through_the_demo_processor(client, session, statement) -> None:
    page = check(client, statement["statement"].code, BORN.isoformat())
    fields = pay_fields(page.text)

    started = form_post(
        client, "/billing/guest/pay", {**fields, "how": "part", "amount": "30.00"}, follow_redirects=False
    )
    hosted = client.get(started.headers["location"])
    done = form_post(client, started.headers["location"], {})

    assert started.status_code == 303 and "no money moves" in hosted.text.lower()
    assert done.status_code == 200 and "We got your payment of $30.00" in done.text
    session.expire_all()
    payment = session.exec(select(Payment)).one()
    assert (payment.channel, payment.status, payment.statement_id, payment.by_person_id) == (
        "guest",
        "paid",
        statement["statement"].id,
        None,
    )
    assert ledger.balance(session, operator_scope(session, statement["child"])) == 5_000
    session.commit()


def test_five_wrong_birth_dates_lock_the_code_even_for_the_right_one(client, session, statement) -> None:
    code = statement["statement"].code
    answers = [check(client, code, "2001-01-01") for _ in range(5)]

    after = check(client, code, BORN.isoformat())

    assert [a.status_code for a in answers] == [400] * 5
    assert "Check both and try again" in answers[0].text
    assert after.status_code == 400 and "no longer works" in after.text and "Well child" not in after.text
    assert [(e.patient_id, e.outcome) for e in events(session, "code-locked")] == [
        (statement["child"].id, "denied")
    ]
    assert len(events(session, "guest-pay")) == 6
    session.expire_all()
    assert session.get(Statement, statement["statement"].id).locked_at is not None
    session.commit()


def test_an_unknown_code_is_refused_the_same_way_and_counted_by_address(client, session, statement) -> None:
    answers = [check(client, "ZZZZZ-ZZZZZ", BORN.isoformat()) for _ in range(20)]

    limited = check(client, statement["statement"].code, BORN.isoformat())

    assert {a.status_code for a in answers} == {400} and "Check both and try again" in answers[0].text
    assert limited.status_code == 429 and "Too many tries" in limited.text
    assert [e.resource_type for e in events(session, "rate-limited")] == ["guest-pay:address"]


@pytest.mark.parametrize("born", ["", "not a date", "1799-01-01", "2015-02-30"])
def test_a_bad_birth_date_is_a_wrong_try_never_an_error(client, session, statement, born) -> None:
    response = check(client, statement["statement"].code, born)

    assert response.status_code == 400 and "Check both and try again" in response.text


def test_a_forged_or_foreign_pass_starts_no_payment(client, session, statement) -> None:
    response = form_post(
        client, "/billing/guest/pay", {"pass": "x.y.z", "key": "k" * 24, "how": "all"}, follow_redirects=False
    )

    assert response.status_code == 400 and "open too long" in response.text
    assert session.exec(select(func.count()).select_from(Payment)).one() == 0


def test_a_bad_amount_shows_the_statement_again_with_the_message(client, session, statement) -> None:
    fields = pay_fields(check(client, statement["statement"].code, BORN.isoformat()).text)

    response = form_post(client, "/billing/guest/pay", {**fields, "how": "part", "amount": "900.00"})

    assert response.status_code == 400 and "more than you owe" in response.text
    assert "Well child visit" in response.text
    assert session.exec(select(func.count()).select_from(Payment)).one() == 0
