"""The example plugin passes the service's provider conformance kit (plugins.conformance), built
the way the service builds it: discovered by its entry point `example`, calling ExamplePay through
the injected httpx client, whose transport here is ExamplePay's fake server side.

The plugin itself is written against port 1.0 (it declares no `requires_port`); the kit runs with
one line, the last of this module, and needs nothing else from pytest (its own pytest plugin runs
the async checks)."""
from __future__ import annotations

from datetime import datetime, timezone

import httpx

import plugins
from example_support import SETTINGS, Clock, require_example_plugin
from plugins.conformance import TOLERANCE_SECONDS, BaseHarness, Notification, ProviderConformance
from ports.payment_provider import PaymentOrder


class ExampleHarness(BaseHarness):
    def __init__(self) -> None:
        require_example_plugin()
        from payments_example_provider import wire
        from payments_example_provider.remote import ExamplePayRemote

        self.wire = wire
        self.clock = Clock(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        self.remote = ExamplePayRemote(api_key=SETTINGS["PAYMENTS_EXAMPLE_API_KEY"], clock=self.clock,
                                       webhook_secret=SETTINGS["PAYMENTS_EXAMPLE_WEBHOOK_SECRET"],
                                       merchant_id=SETTINGS["PAYMENTS_EXAMPLE_MERCHANT_ID"])
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.remote.handle))
        self.provider = plugins.discover(["example"], SETTINGS, http=http, clock=self.clock)["example"]

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        kind = self.wire.ORDER_PAID if succeeded else self.wire.ORDER_FAILED
        return self.remote.notify(kind, order.order_id, order.amount)

    def forged_notification(self, order: PaymentOrder) -> Notification:
        return self.remote.notify(self.wire.ORDER_PAID, order.order_id, order.amount, secret="whsec_somebody_else")

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification:
        return self.remote.notify(self.wire.ORDER_PAID, order.order_id, order.amount, age_seconds=age_seconds)

    def signed_refund_notification(self, order: PaymentOrder, refund_order_id: str, *,
                                   succeeded: bool = True) -> Notification:
        kind = self.wire.REFUND_SUCCEEDED if succeeded else self.wire.REFUND_FAILED
        return self.remote.notify(kind, order.order_id, order.amount, out_refund_no=refund_order_id)

    def sign_body(self, body: bytes, *, age_seconds: int = 0) -> dict[str, str]:
        timestamp = int(self.clock.now().timestamp()) - age_seconds
        return {self.wire.TIMESTAMP_HEADER: str(timestamp),
                self.wire.SIGNATURE_HEADER: self.wire.signature(SETTINGS["PAYMENTS_EXAMPLE_WEBHOOK_SECRET"], timestamp, body)}

    def pay_remotely(self, order_id: str) -> None:
        self.remote.pay(order_id)

    def fail_remote_with(self, failure: int | Exception | None) -> None:
        self.remote.fail_with(failure)


class TestExampleProvider(ProviderConformance, harness=ExampleHarness): pass
