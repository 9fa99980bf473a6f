"""The Stripe plugin wired to the fake Stripe (`stripe_fake`) on a fixed clock, as the conformance
kit's harness, plus what the plugin's own tests share: settings with secrets made at test time."""
from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone
from typing import Any

import httpx

import plugins
from adapters.clock import FixedClock
from plugins.conformance import TOLERANCE_SECONDS, BaseHarness, Notification
from ports.payment_provider import PaymentOrder
from stripe_fake import FakeStripe, new_secret_key, new_webhook_secret

API_BASE = "https://api.stripe.test"
PUBLIC_URL = "https://payments.example.test"
SIGNED_AT = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


def stripe_settings(secret_key: str, webhook_secrets: list[str], **more: str) -> dict[str, str]:
    return {"PAYMENTS_STRIPE_SECRET_KEY": secret_key, "PAYMENTS_STRIPE_WEBHOOK_SECRETS": ",".join(webhook_secrets),
            "PAYMENTS_STRIPE_API_BASE": API_BASE, "PAYMENTS_PUBLIC_URL": PUBLIC_URL, **more}


def fixed_clock(at: datetime = SIGNED_AT) -> FixedClock:
    return FixedClock(at)


def now_to_the_second() -> datetime:
    """Now, on a whole second: for a fixed clock that the SDK's `time.time()` agrees with."""
    return datetime.fromtimestamp(int(time.time()), timezone.utc)


class OrderMaker(BaseHarness):
    """Only `order()`: orders for a provider built otherwise."""

    def __init__(self, provider: Any) -> None:
        self.provider, self.clock = provider, fixed_clock()


class StripeHarness(BaseHarness):
    """The plugin as the service loads it (`plugins.discover`), its HTTP answered by a `FakeStripe`;
    notifications are the fake's events, signed with the endpoint's secrets."""

    def __init__(self, *, signed_at: datetime = SIGNED_AT, **settings: str) -> None:
        self.clock = fixed_clock(signed_at)
        self.secret_key = new_secret_key()
        self.webhook_secrets = [new_webhook_secret()]
        self.stripe = FakeStripe(secret_key=self.secret_key, webhook_secrets=self.webhook_secrets,
                                 now=lambda: int(self.clock.now().timestamp()))
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self.stripe.handle))
        self.provider = plugins.discover(["stripe"], stripe_settings(self.secret_key, self.webhook_secrets, **settings),
                                         http=self.http, clock=self.clock)["stripe"]

    # ------------------------------------------------------------------ notifications
    def session_object(self, order: PaymentOrder, **changes: Any) -> dict[str, Any]:
        """A Checkout Session as Stripe writes it in events, for `order` (its amount as given)."""
        return {"id": "cs_test_" + secrets.token_hex(12), "object": "checkout.session", "mode": "payment",
                "status": "complete", "payment_status": "paid", "client_reference_id": order.order_id,
                "metadata": {"order_id": order.order_id, "session_id": order.session_id},
                "amount_total": order.amount.amount, "currency": order.amount.currency.code.lower(),
                "payment_intent": "pi_" + secrets.token_hex(12), "customer": None,
                "payment_method_types": ["card"], "livemode": False, **changes}

    def event_for(self, order: PaymentOrder, *, succeeded: bool = True) -> dict[str, Any]:
        if succeeded:
            return self.stripe.event("checkout.session.completed", self.session_object(order))
        return self.stripe.event("checkout.session.expired", self.session_object(
            order, status="expired", payment_status="unpaid", payment_intent=None))

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        return self.stripe.signed(self.event_for(order, succeeded=succeeded))

    def forged_notification(self, order: PaymentOrder) -> Notification:
        return self.stripe.signed(self.event_for(order), secrets_=[new_webhook_secret()])

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification:
        return self.stripe.signed(self.event_for(order), timestamp=int(self.clock.now().timestamp()) - age_seconds)

    def sign_body(self, body: bytes, *, age_seconds: int = 0) -> dict[str, str]:
        from stripe_fake import signature_header

        return {"Stripe-Signature": signature_header(body, self.webhook_secrets,
                                                     int(self.clock.now().timestamp()) - age_seconds)}

    def signed_refund_notification(self, order: PaymentOrder, refund_order_id: str, *,
                                   succeeded: bool = True) -> Notification:
        refund = {"id": "re_" + secrets.token_hex(12), "object": "refund", "amount": order.amount.amount,
                  "currency": order.amount.currency.code.lower(), "payment_intent": "pi_" + secrets.token_hex(12),
                  "status": "succeeded" if succeeded else "failed",
                  "failure_reason": None if succeeded else "lost_or_stolen_card",
                  "metadata": {"order_id": order.order_id, "refund_order_id": refund_order_id,
                               "reason": "requested_by_customer"}}
        return self.stripe.signed(self.stripe.event("refund.updated", refund))

    # ------------------------------------------------------------------ the remote side
    def pay_remotely(self, order_id: str) -> None:
        self.stripe.pay(order_id)

    def fail_remote_with(self, failure: int | Exception | None) -> None:
        self.stripe.fail_with(failure)

    async def close(self) -> None:
        await self.http.aclose()
