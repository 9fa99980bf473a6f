"""The WeChat Pay plugin passes the provider conformance kit (plugins.conformance), loaded through
its entry point, against the fake WeChat Pay (wechat_pay_fake) in both verification modes: the
WeChat Pay public key, and platform certificates downloaded from the fake's /v3/certificates (the
harness has the plugin download them first, as `prepare_notification` does before a parse)."""
from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest

import plugins
from adapters.clock import FixedClock
from plugins.conformance import TOLERANCE_SECONDS, BaseHarness, Notification, ProviderConformance
from ports.payment_provider import PaymentOrder
from wechat_pay_fake import FakeWeChatPay
from wechat_pay_keys import new_key

MODES = ("public_key", "certificate")


class WeChatPayHarness(BaseHarness):
    """The plugin on a fixed clock, wired to a fake WeChat Pay living at the same time."""

    sends_failure_notifications = False  # WeChat notifies Native payments only when they succeed

    def __init__(self, mode: str) -> None:
        self.clock = FixedClock(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        self.fake = FakeWeChatPay(mode=mode, now=lambda: self.clock.now().timestamp())
        self.http = httpx.AsyncClient(transport=httpx.MockTransport(self.fake.handle))
        self.provider = plugins.discover(["wechat_pay"], self.fake.settings(), http=self.http,
                                         clock=self.clock)["wechat_pay"]
        if mode == "certificate":  # what prepare_notification does when a notification names the serial
            asyncio.run(self.provider.prepare_notification({"Wechatpay-Serial": self.fake.serial}, b""))
            assert self.provider.platform_certificate_serials == (self.fake.serial,)

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        assert succeeded, "WeChat Pay sends no notification of an unpaid Native order"
        return self.fake.transaction_notification(order.order_id, order.amount.amount, order.amount.currency.code)

    def forged_notification(self, order: PaymentOrder) -> Notification:
        headers, body = self.signed_notification(order)
        return self.fake.sign(body, key=new_key(), serial=headers["Wechatpay-Serial"]), body

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification:
        _, body = self.signed_notification(order)
        return self.sign_body(body, age_seconds=age_seconds), body

    def sign_body(self, body: bytes, *, age_seconds: int = 0) -> dict[str, str]:
        return self.fake.sign(body, at=int(self.clock.now().timestamp()) - age_seconds)

    def tamper(self, headers: dict[str, str], body: bytes, order: PaymentOrder) -> Notification:
        """The order id lives in the encrypted resource: another resource, the old signature."""
        resource = self.fake.decrypt(body)
        resource["out_trade_no"] = order.order_id[:-1] + ("0" if order.order_id[-1] != "0" else "1")
        notification = json.loads(body)
        notification["resource"] = {"original_type": "transaction",
                                    **self.fake.encrypt(json.dumps(resource).encode(), "transaction")}
        return dict(headers), json.dumps(notification, separators=(",", ":")).encode()

    def open_body(self, body: bytes) -> dict:
        """The decrypted resource, where the amount is (the kit writes it otherwise there)."""
        return self.fake.decrypt(body)

    def seal_body(self, body: bytes, document: dict) -> bytes:
        notification = json.loads(body)
        notification["resource"] = {"original_type": notification["resource"]["original_type"],
                                    **self.fake.encrypt(json.dumps(document).encode(),
                                                        notification["resource"]["associated_data"])}
        return json.dumps(notification, separators=(",", ":")).encode()

    def signed_refund_notification(self, order: PaymentOrder, refund_order_id: str, *,
                                   succeeded: bool = True) -> Notification:
        return self.fake.refund_notification(order.order_id, refund_order_id, order.amount.amount,
                                             order.amount.amount, status="SUCCESS" if succeeded else "CLOSED")

    def pay_remotely(self, order_id: str) -> None:
        self.fake.pay(order_id)

    def fail_remote_with(self, failure: int | Exception | None) -> None:
        self.fake.fail_with(failure)

    def close(self) -> None:
        asyncio.run(self.http.aclose())


@pytest.fixture(params=MODES)
def harness(request: pytest.FixtureRequest) -> Iterator[WeChatPayHarness]:
    built = WeChatPayHarness(request.param)
    yield built
    built.close()


class TestWeChatPayProvider(ProviderConformance):
    """The whole kit, once per verification mode (the `harness` fixture above)."""
