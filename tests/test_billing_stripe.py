"""Stripe Checkout, through the `stripe` library with its API base pointed at a small server on loopback, and
webhooks signed with the library's own signing helper."""

from __future__ import annotations

import json
import re
import threading
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
import stripe
from sqlmodel import func, select
from starlette.testclient import TestClient

from portal.app import create_app
from portal.models import LedgerEntry, Payment, ProcessorEvent
from portal.services.billing import ledger
from portal.services.billing.ledger import VisitBill
from tests.conftest import ORIGIN, form_post, log_in, make_patient, make_person
from tests.scopes import operator_scope

WEBHOOK_SECRET = "whsec_test_portal_0123456789"


class FakeStripe(BaseHTTPRequestHandler):
    """Answers POST /v1/checkout/sessions as Stripe does, remembering each idempotency key's session."""

    sessions: dict[str, dict] = {}
    requests: list[dict] = []

    def do_POST(self) -> None:  # noqa: N802 (the http.server name)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        key = self.headers.get("Idempotency-Key", "")
        type(self).requests.append({"path": self.path, "key": key, "form": parse_qs(body)})
        if key not in self.sessions:
            number = len(self.sessions) + 1
            self.sessions[key] = {
                "id": f"cs_test_{number}",
                "object": "checkout.session",
                "url": f"https://checkout.stripe.test/pay/cs_test_{number}",
                "payment_status": "unpaid",
            }
        payload = json.dumps(self.sessions[key]).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def fake_stripe():
    FakeStripe.sessions, FakeStripe.requests = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeStripe)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def stripe_client(settings, fake_stripe, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    extra = {
        "PORTAL_PAYMENT_PROCESSOR": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_portal",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": fake_stripe,
    }
    app = create_app(settings.with_overrides(extra=extra))
    with TestClient(app, base_url=ORIGIN) as client:
        yield client
    app.state.engine.dispose()


@pytest.fixture
def owing(session):
    person = make_person(session, display_name="Owen Owing")
    patient = make_patient(session, person_id=person.id)
    scope = operator_scope(session, patient)
    ledger.record_visit(
        session,
        scope,
        VisitBill("csv:S1", date.today() - timedelta(days=2), "Dr Ruiz", "Visit", 9_000, 4_000, 5_000),
    )
    session.commit()
    return person, patient


def start_payment(client, session, person, patient) -> tuple[str, str]:
    log_in(client, session, person)
    page = client.get(f"/p/{patient.public_id}/billing").text
    key = re.search(r'name="key" value="([^"]+)"', page).group(1)
    response = form_post(
        client, f"/p/{patient.public_id}/billing/pay", {"how": "all", "key": key}, follow_redirects=False
    )
    return key, response.headers["location"]


def completed_event(payment: Payment, event_id: str = "evt_1") -> str:
    return json.dumps(
        {
            "id": event_id,
            "object": "event",
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": payment.processor_ref,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "payment_intent": "pi_test_1",
                    "amount_total": payment.amount_cents,
                    "metadata": {"payment": payment.public_id},
                }
            },
        }
    )


def deliver(client, payload: str, secret: str = WEBHOOK_SECRET):
    header = stripe.WebhookSignature.generate_signature_header(payload, secret)
    return client.post(
        "/billing/webhook/stripe",
        content=payload,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_checkout_is_created_with_the_forms_idempotency_key_and_no_visit_names(
    stripe_client, session, owing
) -> None:
    person, patient = owing

    key, location = start_payment(stripe_client, session, person, patient)

    assert location.startswith("https://checkout.stripe.test/pay/cs_test_1")
    assert [r["key"] for r in FakeStripe.requests] == [key]
    sent = FakeStripe.requests[0]["form"]
    assert sent["line_items[0][price_data][unit_amount]"] == ["5000"]
    assert "Visit" not in json.dumps(sent) and patient.family_name not in json.dumps(sent)


def test_a_double_submit_makes_one_payment_and_one_checkout(stripe_client, session, owing) -> None:
    person, patient = owing
    key, first = start_payment(stripe_client, session, person, patient)

    again = form_post(
        stripe_client,
        f"/p/{patient.public_id}/billing/pay",
        {"how": "all", "key": key},
        follow_redirects=False,
    )

    assert again.headers["location"] == first
    assert len(FakeStripe.sessions) == 1
    session.expire_all()
    assert session.exec(select(func.count()).select_from(Payment)).one() == 1


def test_the_webhook_marks_paid_once_even_when_delivered_twice_or_before_the_return(
    stripe_client, session, owing
) -> None:
    person, patient = owing
    start_payment(stripe_client, session, person, patient)
    payment = session.exec(select(Payment)).one()
    session.commit()
    payload = completed_event(payment)

    first = deliver(stripe_client, payload)
    second = deliver(stripe_client, payload)
    returned = stripe_client.get(f"/p/{patient.public_id}/billing?payment={payment.public_id}")

    assert (first.status_code, first.text, second.status_code, second.text) == (
        200,
        "applied",
        200,
        "duplicate",
    )
    assert "We got your payment" in returned.text
    session.expire_all()
    assert session.exec(select(LedgerEntry.amount_cents).where(LedgerEntry.kind == "payment")).all() == [
        -5_000
    ]
    assert ledger.balance(session, operator_scope(session, patient)) == 0


def test_a_webhook_with_a_bad_signature_is_refused_and_changes_nothing(stripe_client, session, owing) -> None:
    person, patient = owing
    start_payment(stripe_client, session, person, patient)
    payment = session.exec(select(Payment)).one()
    session.commit()

    response = deliver(stripe_client, completed_event(payment), secret="whsec_someone_else")

    assert response.status_code == 400
    session.expire_all()
    assert session.exec(select(Payment)).one().status == "pending"
    assert session.exec(select(func.count()).select_from(ProcessorEvent)).one() == 0


def test_a_refund_and_a_dispute_from_stripe_add_their_entries(stripe_client, session, owing) -> None:
    person, patient = owing
    start_payment(stripe_client, session, person, patient)
    payment = session.exec(select(Payment)).one()
    session.commit()
    deliver(stripe_client, completed_event(payment))
    refund = {
        "id": "evt_2",
        "type": "charge.refunded",
        "data": {"object": {"payment_intent": "pi_test_1", "amount_refunded": 1_500}},
    }
    dispute = {
        "id": "evt_3",
        "type": "charge.dispute.created",
        "data": {"object": {"payment_intent": "pi_test_1", "amount": 1_000}},
    }

    deliver(stripe_client, json.dumps(refund))
    deliver(stripe_client, json.dumps(refund | {"id": "evt_2b"}))  # the same running total again
    deliver(stripe_client, json.dumps(dispute))

    session.expire_all()
    refunds = session.exec(select(LedgerEntry.amount_cents).where(LedgerEntry.kind == "refund")).all()
    assert sorted(refunds) == [1_000, 1_500]
    assert ledger.balance(session, operator_scope(session, patient)) == 2_500
