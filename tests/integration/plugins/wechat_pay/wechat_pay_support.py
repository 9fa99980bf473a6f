"""Building the WeChat Pay plugin against the fake for the plugin's own tests: a fixed clock the
fake shares, the plugin loaded through its entry point, and a transport that can change an answer
after the fake signed it (to check that the plugin believes no unverified answer)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import attrs
import httpx

import plugins
from adapters.clock import FixedClock
from domain.money import CNY, Money
from plugins.wechat_pay import WeChatPayProvider
from ports.payment_provider import PaymentOrder
from wechat_pay_fake import FakeWeChatPay

START = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
NOTIFY_URL = "https://payments.example.test/api/v1/payments/webhooks/wechat_pay"


@attrs.define
class Rig:
    clock: FixedClock
    fake: FakeWeChatPay
    provider: WeChatPayProvider
    http: httpx.AsyncClient
    # Changes an answer after the fake signed it (None: answers pass as they are).
    rewrite: Callable[[httpx.Request, httpx.Response], httpx.Response] | None = None

    def order(self, order_id: str = "S20260301A1B2C3D4", amount: int = 1700, **changes) -> PaymentOrder:
        order = PaymentOrder(order_id=order_id, session_id="ps_1", amount=Money(amount, CNY),
                             description="10 receives", payment_method="wechat_pay",
                             expires_at=self.clock.now() + timedelta(hours=1), notify_url=NOTIFY_URL)
        return attrs.evolve(order, **changes)


def rig(mode: str = "public_key", **settings: str) -> Rig:
    clock = FixedClock(START)
    fake = FakeWeChatPay(mode=mode, now=lambda: clock.now().timestamp())
    holder: list[Rig] = []

    def transport(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        rewrite = holder[0].rewrite if holder else None
        return rewrite(request, response) if rewrite else response

    http = httpx.AsyncClient(transport=httpx.MockTransport(transport))
    provider = plugins.discover(["wechat_pay"], fake.settings(**settings), http=http, clock=clock)["wechat_pay"]
    holder.append(Rig(clock, fake, provider, http))
    return holder[0]
