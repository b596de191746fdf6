"""Payment processors behind one small interface: Stripe Checkout, and a demo processor for the demo.

The portal never sees a card: it asks the processor for a hosted checkout page, sends the browser there,
and learns that a payment was made only from the processor's webhook, verified by its signature. The
browser's return proves nothing. Configuration comes from the environment (or `Settings.extra`):
PORTAL_PAYMENT_PROCESSOR ("stripe", "demo" or "none"; default "demo" in development, "none" in
production), STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET and, for tests, STRIPE_API_BASE.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any, Protocol

from portal.config import ConfigError, Settings


@dataclass(frozen=True)
class Checkout:
    """A hosted page the browser goes to, and the processor's id for it."""

    processor_ref: str
    url: str


@dataclass(frozen=True)
class ProcessorEventData:
    """A verified webhook event, in the portal's words."""

    event_id: str
    kind: str  # "paid", "refunded", "disputed", "ignored"
    processor_ref: str | None = None  # the checkout's id (paid)
    payment_public_id: str | None = None  # our id, from the checkout's metadata
    processor_payment_id: str | None = None  # the processor's payment id (payouts reconcile on it)
    amount_cents: int = 0  # paid; or, for a refund, the total refunded so far; for a dispute, its amount


class BadSignature(Exception):
    """A webhook whose signature does not verify: refused, nothing changed."""


class Processor(Protocol):
    name: str
    moves_money: bool

    def start_checkout(
        self,
        *,
        payment_public_id: str,
        amount_cents: int,
        idempotency_key: str,
        success_url: str,
        cancel_url: str,
    ) -> Checkout: ...

    def verify_event(self, payload: bytes, signature: str | None) -> ProcessorEventData: ...

    def refund(self, *, processor_payment_id: str, amount_cents: int, idempotency_key: str) -> str: ...


def setting(settings: Settings, name: str, default: str = "") -> str:
    return settings.extra.get(name) or os.environ.get(name, default)


def processor_name(settings: Settings) -> str:
    name = setting(settings, "PORTAL_PAYMENT_PROCESSOR", "none" if settings.production else "demo")
    if name not in ("stripe", "demo", "none"):
        raise ConfigError("PORTAL_PAYMENT_PROCESSOR must be stripe, demo or none")
    return name


def check_settings(settings: Settings) -> None:
    """Refuse to start in production with the demo processor (it takes no money) or half a Stripe set-up."""
    name = processor_name(settings)
    if settings.production and name == "demo":
        raise ConfigError("the demo payment processor is for the demo only: production refuses it")
    if name == "stripe" and not (
        setting(settings, "STRIPE_SECRET_KEY") and setting(settings, "STRIPE_WEBHOOK_SECRET")
    ):
        raise ConfigError("PORTAL_PAYMENT_PROCESSOR=stripe needs STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")


def configured(settings: Settings) -> Processor | None:
    """The clinic's processor, or None when online payment is off."""
    check_settings(settings)
    name = processor_name(settings)
    if name == "stripe":
        return StripeProcessor(
            setting(settings, "STRIPE_SECRET_KEY"),
            setting(settings, "STRIPE_WEBHOOK_SECRET"),
            setting(settings, "STRIPE_API_BASE") or None,
        )
    if name == "demo":
        return DemoProcessor(str(settings.secret_key), settings.origin)
    return None


class StripeProcessor:
    name = "stripe"
    moves_money = True

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str | None) -> None:
        import stripe

        self._stripe = stripe
        self._webhook_secret = webhook_secret
        bases: Any = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(secret_key, base_addresses=bases, max_network_retries=2)

    def start_checkout(
        self,
        *,
        payment_public_id: str,
        amount_cents: int,
        idempotency_key: str,
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        session = self._client.v1.checkout.sessions.create(
            params={
                "mode": "payment",
                "success_url": success_url,
                "cancel_url": cancel_url,
                "client_reference_id": payment_public_id,
                "metadata": {"payment": payment_public_id},
                "payment_intent_data": {"metadata": {"payment": payment_public_id}},
                "line_items": [
                    {
                        "quantity": 1,
                        # No visit names or patient names go to the processor: an amount on an account.
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": amount_cents,
                            "product_data": {"name": "Payment on account"},
                        },
                    }
                ],
            },
            options={"idempotency_key": idempotency_key},
        )
        return Checkout(str(session.id), str(session.url))

    def refund(self, *, processor_payment_id: str, amount_cents: int, idempotency_key: str) -> str:
        """Give back part or all of a payment; Stripe's own charge.refunded webhook follows (and adds
        nothing, the refund being recorded already)."""
        refund = self._client.v1.refunds.create(
            params={"payment_intent": processor_payment_id, "amount": amount_cents},
            options={"idempotency_key": idempotency_key},
        )
        return str(refund.id)

    def verify_event(self, payload: bytes, signature: str | None) -> ProcessorEventData:
        try:
            self._stripe.WebhookSignature.verify_header(
                payload.decode("utf-8"), signature, self._webhook_secret, tolerance=300
            )
            event = json.loads(payload)
        except (self._stripe.SignatureVerificationError, ValueError, UnicodeDecodeError):
            raise BadSignature from None
        return _stripe_event(event)


def _stripe_event(event: dict[str, Any]) -> ProcessorEventData:
    kind = str(event.get("type", ""))
    obj = (event.get("data") or {}).get("object") or {}
    event_id = str(event.get("id", ""))
    if kind in ("checkout.session.completed", "checkout.session.async_payment_succeeded"):
        if obj.get("payment_status") != "paid":
            return ProcessorEventData(event_id, "ignored")
        return ProcessorEventData(
            event_id,
            "paid",
            processor_ref=obj.get("id"),
            payment_public_id=(obj.get("metadata") or {}).get("payment"),
            processor_payment_id=obj.get("payment_intent"),
            amount_cents=int(obj.get("amount_total") or 0),
        )
    if kind == "charge.refunded":
        return ProcessorEventData(
            event_id,
            "refunded",
            processor_payment_id=obj.get("payment_intent"),
            payment_public_id=(obj.get("metadata") or {}).get("payment"),
            amount_cents=int(obj.get("amount_refunded") or 0),
        )
    if kind == "charge.dispute.created":
        return ProcessorEventData(
            event_id,
            "disputed",
            processor_payment_id=obj.get("payment_intent"),
            amount_cents=int(obj.get("amount") or 0),
        )
    return ProcessorEventData(event_id, "ignored")


class DemoProcessor:
    """For `portal demo`: a hosted page inside the portal that says plainly that no money moves. Its
    "webhook" is signed with a key derived from the portal's secret, like a real processor's."""

    name = "demo"
    moves_money = False

    def __init__(self, secret: str, origin: str) -> None:
        self._key = hashlib.sha256(b"demo-processor:" + secret.encode()).digest()
        self._origin = origin

    def sign(self, payload: bytes) -> str:
        return hmac.new(self._key, payload, hashlib.sha256).hexdigest()

    def start_checkout(
        self,
        *,
        payment_public_id: str,
        amount_cents: int,
        idempotency_key: str,
        success_url: str,
        cancel_url: str,
    ) -> Checkout:
        ref = "demo_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
        return Checkout(ref, f"{self._origin}/demo-pay/{ref}")

    def refund(self, *, processor_payment_id: str, amount_cents: int, idempotency_key: str) -> str:
        """The demo gives nothing back (it took nothing): a refund id, for the record."""
        return "demo_re_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]

    def event_for(self, ref: str, payment_public_id: str, amount_cents: int) -> tuple[bytes, str]:
        """What the demo's hosted page "sends" when the visitor presses pay: a signed event."""
        payload = json.dumps(
            {
                "id": f"evt_{ref}",
                "kind": "paid",
                "ref": ref,
                "payment": payment_public_id,
                "amount": amount_cents,
            },
            sort_keys=True,
        ).encode()
        return payload, self.sign(payload)

    def verify_event(self, payload: bytes, signature: str | None) -> ProcessorEventData:
        if not signature or not hmac.compare_digest(self.sign(payload), signature):
            raise BadSignature
        event = json.loads(payload)
        return ProcessorEventData(
            str(event["id"]),
            str(event["kind"]),
            processor_ref=event.get("ref"),
            payment_public_id=event.get("payment"),
            processor_payment_id=event.get("ref"),
            amount_cents=int(event.get("amount", 0)),
        )
