"""The Alipay plugin wired to the fake gateway, as the conformance kit's harness and for the
plugin's own tests: discovered by its entry point `alipay` the way the service builds it, calling
the fake through the injected httpx client (`httpx.MockTransport`), on a fixed clock."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlencode

import httpx

import plugins
from adapters.clock import FixedClock
from alipay_fake_gateway import FakeAlipayGateway, TestKeys, beijing, signed_form
from plugins.conformance import TOLERANCE_SECONDS, BaseHarness, Notification
from ports.payment_provider import PaymentOrder

FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


class AlipayHarness(BaseHarness):
    """Notifications are the fake gateway's (Alipay's fields, signed with Alipay's key); forged ones
    are signed with a stranger's key, stale ones carry an older `notify_time`. Alipay's notifications
    name no currency (`names_currency`); its signature travels in the body, so the kit's checks
    that sign arbitrary bodies (`sign_body`) are the plugin's own tests here (test_alipay_notifications)."""

    names_currency = False

    def __init__(self, **settings: str) -> None:
        self.clock = FixedClock(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        self.keys = TestKeys.generated()
        self.gateway = FakeAlipayGateway(keys=self.keys, clock=self.clock.now)
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self.gateway.handle))
        self.provider = plugins.discover(["alipay"], self.keys.settings(**settings), http=self.http,
                                         clock=self.clock)["alipay"]

    def notification(self, order: PaymentOrder, status: str = "TRADE_SUCCESS", *, age_seconds: int = 0,
                     key=None, **changes: str) -> Notification:
        fields = self.gateway.notification_fields(order.order_id, order.amount.amount, status,
                                                  sent_at=self.clock.now() - timedelta(seconds=age_seconds))
        return dict(FORM_HEADERS), signed_form({**fields, **changes}, key or self.keys.alipay)

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        return self.notification(order, "TRADE_SUCCESS" if succeeded else "TRADE_CLOSED")

    def forged_notification(self, order: PaymentOrder) -> Notification:
        return self.notification(order, key=self.keys.stranger)

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification:
        return self.notification(order, age_seconds=age_seconds)

    def strip_signature(self, headers, body: bytes) -> Notification:
        fields = [(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True) if k != "sign"]
        return dict(headers), urlencode(fields).encode()

    def retime(self, headers, body: bytes, timestamp: int) -> Notification:
        """`notify_time` (in the signed body) moved to `timestamp` without signing again."""
        moved = beijing(datetime.fromtimestamp(timestamp, timezone.utc))
        fields = [(k, moved if k == "notify_time" else v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)]
        return dict(headers), urlencode(fields).encode()

    def pay_remotely(self, order_id: str) -> None:
        self.gateway.pay(order_id)  # the payer scans, then pays

    def fail_remote_with(self, failure: int | Exception | None) -> None:
        self.gateway.failure = failure
