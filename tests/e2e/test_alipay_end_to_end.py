"""The Alipay plugin end to end: a `payments serve` process with `alipay` routed to the plugin
(`PAYMENTS_METHOD_ROUTES=alipay=alipay,…`) and `PAYMENTS_ALIPAY_GATEWAY` pointed at a fake Alipay
gateway served over real HTTP on 127.0.0.1 (tests/integration/plugins/alipay/alipay_fake_gateway.py,
built to the protocol). Keys are generated at test time; our private key reaches the service as
the path of a PEM file, Alipay's public key as the bare base64 its console shows.

Cases (issue 14, point 6): the QR purchase precreated at Alipay; redirect purchases (`flow`
`redirect` and `mobile_redirect`: signed page pay / wap pay URLs the payer's browser opens at the
gateway, `return_url` passed on); Alipay's signed notification credits the member and is answered
with the plain text `success`; duplicates credit once; a tampered one, one for another app and one
for another amount credit nothing; a payment whose notification is lost is credited by the
reconciler (it queries Alipay); a cancelled purchase closes its trade; a second payment of a paid
purchase is refunded at Alipay with our refund number, and Alipay's refund notification is
acknowledged; bad settings stop start-up with one line. Partial refunds through the refund API
(approved by an admin, `out_request_no` = our refund's order id) are in test_alipay_refunds.py, on
this module's world.

One `payments serve` and one gateway serve the whole module (each case with its own member); the
lost notification's payment is made first; its case, the last, moves the service's test clock a
minute ahead, which brings the reconciler's first query (a minute after the session opened).
"""
from __future__ import annotations

import asyncio
import os
from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import aiohttp
import attrs
import pytest
import pytest_asyncio
from aiohttp import web

from integration.plugins.alipay.alipay_fake_gateway import (
    APP_ID,
    FakeAlipayGateway,
    TestKeys,
    pem_body,
    private_pem,
    public_pem,
    signed_form,
    web_app,
)
from clock_support import advance_clock
from live import PAYMENTS_BIN, PROCESS_JWT_SECRET, Service, eventually, free_port, serve_process

pytestmark = pytest.mark.asyncio(loop_scope="module")

RECEIVES = "/api/v1/payments/receives"
SESSIONS = "/api/v1/payments/sessions"
CANCEL = "/api/v1/payments/cancel"
METHODS = "/api/v1/payments/methods"
MEMBERSHIP = "/api/v1/payments/membership"
TRANSACTIONS = "/api/v1/payments/transactions"
WEBHOOK = "/api/v1/payments/webhooks/alipay"
RECONCILER_SECONDS = 15  # the first query is due a minute after the session opened: the test clock brings it


@attrs.define
class World:
    service: Service
    gateway: FakeAlipayGateway
    http: aiohttp.ClientSession
    lost: dict  # a purchase paid at Alipay whose notification never came

    async def notify(self, body: bytes) -> tuple[int, str, str]:
        """POST a notification to the service's Alipay webhook as Alipay does: (status, content type, text)."""
        async with self.http.post(self.service.url(WEBHOOK), data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}) as response:
            return response.status, response.headers.get("Content-Type", ""), await response.text()

    async def deliver_outbox(self) -> list[tuple[int, str, str]]:
        """Send every notification the gateway queued, to the notify_url the order named."""
        answers = []
        while self.gateway.outbox:
            url, body = self.gateway.outbox.pop(0)
            assert url == self.service.url(WEBHOOK), url
            answers.append(await self.notify(body))
        return answers

    async def buy(self, user: str, amount: int = 10) -> dict:
        return await self.service.post(RECEIVES, {"amount": amount, "payment_method": "alipay"}, user=user, expect=201)

    async def purchased(self, user: str) -> int:
        return (await self.service.get(MEMBERSHIP, user=user))["receives"]["purchased_remaining"]

    async def transaction(self, user: str, transaction_id: str) -> dict:
        return await self.service.get(f"{TRANSACTIONS}/{transaction_id}", user=user)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(tmp_path_factory):
    keys = TestKeys.generated()
    port = free_port()
    gateway = FakeAlipayGateway(keys=keys, clock=lambda: datetime.now(timezone.utc),
                                gateway_url=f"http://127.0.0.1:{port}/gateway.do")
    runner = web.AppRunner(web_app(gateway))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    workdir = tmp_path_factory.mktemp("alipay-e2e")
    key_file = workdir / "app_private_key.pem"
    key_file.write_text(private_pem(keys.app))
    key_file.chmod(0o600)
    try:
        async with aiohttp.ClientSession() as http, serve_process(
                http, workdir, PAYMENTS_METHOD_ROUTES="alipay=alipay,wechat_pay=mock,credit_card=mock,mock=mock",
                PAYMENTS_ALIPAY_APP_ID=APP_ID, PAYMENTS_ALIPAY_PRIVATE_KEY=str(key_file),
                PAYMENTS_ALIPAY_PUBLIC_KEY=pem_body(public_pem(keys.alipay)),
                PAYMENTS_ALIPAY_GATEWAY=gateway.gateway_url) as service:
            world = World(service, gateway, http, lost={})
            world.lost = await world.buy("alipay-lost")
            gateway.pay(world.lost["session"]["order_id"], notify=False)  # paid; the notification is lost
            yield world
    finally:
        await runner.cleanup()


async def test_alipay_is_served_by_the_plugin_with_its_three_flows(world):
    methods = {m["id"]: m for m in (await world.service.get(METHODS))["methods"]}

    assert methods["alipay"]["available"] is True
    assert (methods["alipay"]["flows"], methods["alipay"]["currencies"]) == (
        ["qr_code", "redirect", "mobile_redirect"], ["CNY"])


async def test_a_qr_purchase_is_precreated_and_alipays_notification_credits_it_once_answered_success(world):
    user = "alipay-qr"
    bought = await world.buy(user)
    session, order_id = bought["session"], bought["session"]["order_id"]

    precreate = next(c for c in world.gateway.calls if c["method"] == "alipay.trade.precreate"
                     and order_id in c["biz_content"])
    assert (bought["transaction"]["provider"], session["provider"]) == ("alipay", "alipay")
    assert session["qr_code"] == world.gateway.qr_code(order_id) and session["payment_url"] is None
    assert session["qr_code_image"].startswith("data:image/svg+xml;base64,")
    assert precreate["notify_url"] == world.service.url(WEBHOOK)
    assert '"total_amount":"17.00"' in precreate["biz_content"]

    world.gateway.pay(order_id)
    (status, content_type, text), = await world.deliver_outbox()

    assert (status, text) == (200, "success") and content_type.startswith("text/plain")
    assert await world.purchased(user) == 10
    paid = await world.transaction(user, bought["transaction"]["id"])
    assert paid["transaction"]["status"] == "succeeded"

    # Later, Alipay tells of the same payment again (TRADE_FINISHED: no longer refundable): nothing more.
    finished = world.gateway.trade_notification(world.gateway.trades[order_id], trade_status="TRADE_FINISHED")
    assert (await world.notify(finished))[::2] == (200, "success")
    assert await world.purchased(user) == 10


@pytest.mark.parametrize(("flow", "method", "product_code"), [
    ("redirect", "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    ("mobile_redirect", "alipay.trade.wap.pay", "QUICK_WAP_WAY")])
async def test_a_redirect_purchase_sends_the_payer_to_a_signed_alipay_page_and_is_credited(
        world, flow, method, product_code):
    user = f"alipay-{flow}"
    return_url = "http://localhost:3000/payments/done"
    bought = await world.service.post(RECEIVES, {"amount": 10, "payment_method": "alipay", "flow": flow,
                                                 "return_url": return_url}, user=user, expect=201)
    session = bought["session"]
    url = session["payment_url"]
    params = dict(parse_qsl(urlsplit(url).query))
    assert url.startswith(world.gateway.gateway_url + "?") and session["qr_code"] is None
    assert (params["method"], params["return_url"], params["notify_url"]) == (method, return_url,
                                                                               world.service.url(WEBHOOK))
    assert f'"product_code":"{product_code}"' in params["biz_content"]

    async with world.http.get(url) as cashier:  # the payer's browser opens Alipay's page: it checks the signature
        assert cashier.status == 200, await cashier.text()
    world.gateway.pay(session["order_id"])
    ((status, _, text),) = await world.deliver_outbox()

    assert (status, text) == (200, "success")
    assert await world.purchased(user) == 10


async def test_the_same_notification_delivered_twice_credits_once(world):
    user = "alipay-twice"
    bought = await world.buy(user)
    body = world.gateway.pay(bought["session"]["order_id"], notify=False)

    answers = [await world.notify(body) for _ in range(3)]

    assert [(status, text) for status, _, text in answers] == [(200, "success")] * 3
    assert await world.purchased(user) == 10


async def test_tampered_foreign_and_mismatched_notifications_credit_nothing(world):
    user = "alipay-forged"
    bought = await world.buy(user)
    order_id = bought["session"]["order_id"]
    fields = world.gateway.notification_fields(order_id, 1700, "TRADE_SUCCESS")
    authentic = signed_form(fields, world.gateway.keys.alipay)
    tampered = authentic.replace(b"trade_status=TRADE_SUCCESS", b"trade_status=TRADE_FINISHED")
    forged = signed_form(fields, world.gateway.keys.stranger)
    another_app = signed_form({**world.gateway.notification_fields(order_id, 1700, "TRADE_SUCCESS"),
                               "app_id": "2021999999999999"}, world.gateway.keys.alipay)
    another_amount = signed_form(world.gateway.notification_fields(order_id, 1, "TRADE_SUCCESS"),
                                 world.gateway.keys.alipay)

    for body in (tampered, forged):
        status, _, text = await world.notify(body)
        assert status == 401 and text != "success"  # refused: Alipay keeps re-sending, nothing changes
    for body in (another_app, another_amount):
        assert (await world.notify(body))[::2] == (200, "success")  # authentic, not ours: kept apart, not re-sent

    assert await world.purchased(user) == 0
    assert (await world.transaction(user, bought["transaction"]["id"]))["transaction"]["status"] == "pending"


async def test_cancelling_a_purchase_closes_its_trade_at_alipay(world):
    user = "alipay-cancel"
    bought = await world.buy(user)
    order_id = bought["session"]["order_id"]
    world.gateway.scan(order_id)  # the payer scanned: the trade exists at Alipay

    cancelled = await world.service.post(CANCEL, {"transaction_id": bought["transaction"]["id"],
                                                  "reason": "changed my mind"}, user=user)

    assert cancelled["transaction"]["status"] == "cancelled"
    await eventually(lambda: _async(world.gateway.trades[order_id].status), lambda s: s == "TRADE_CLOSED",
                     what="the trade to be closed at Alipay")
    assert any(c["method"] == "alipay.trade.close" and order_id in c["biz_content"] for c in world.gateway.calls)


async def test_a_second_payment_of_a_paid_purchase_is_refunded_at_alipay_with_our_refund_number(world):
    user = "alipay-twice-paid"
    bought = await world.buy(user)
    first_order = bought["session"]["order_id"]
    # A second session for the same purchase: the first one's order is closed, but nobody had scanned
    # it, so Alipay had no trade to close and its QR code can still be paid.
    second = await world.service.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}, user=user,
                                      expect=201)
    world.gateway.pay(second["order_id"])
    world.gateway.pay(first_order)

    answers = await world.deliver_outbox()  # both payments (and the refund's notification, once made)

    trade = world.gateway.trades[first_order]
    await eventually(lambda: _async(dict(trade.refunds)), lambda refunds: list(refunds.values()) == [1700],
                     what="the second payment to be refunded at Alipay")
    answers += await world.deliver_outbox()
    assert [(status, text) for status, _, text in answers] == [(200, "success")] * 3  # 2 payments, 1 refund
    refund = next(c for c in world.gateway.calls if c["method"] == "alipay.trade.refund")
    assert f'"out_trade_no":"{first_order}"' in refund["biz_content"]
    assert f'"refund_amount":"17.00","out_request_no":"{next(iter(trade.refunds))}"' in refund["biz_content"]
    assert trade.status == "TRADE_CLOSED" and world.gateway.trades[second["order_id"]].refunds == {}
    assert await world.purchased(user) == 10  # delivered once
    first_session = await world.service.get(f"{SESSIONS}/{bought['session']['id']}", user=user)
    assert first_session["status"] == "refunded"
    detail = await world.transaction(user, bought["transaction"]["id"])
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("succeeded", 0)


async def test_a_payment_whose_notification_was_lost_is_credited_by_the_reconciler(world):
    user = "alipay-lost"
    await advance_clock(world.service, 60)  # the reconciler's first query is due now; its job wakes

    await eventually(lambda: world.purchased(user), lambda purchased: purchased == 10, timeout=RECONCILER_SECONDS,
                     what="the reconciler to find the payment at Alipay")

    order_id = world.lost["session"]["order_id"]
    assert any(c["method"] == "alipay.trade.query" and order_id in c["biz_content"] for c in world.gateway.calls)
    assert (await world.transaction(user, world.lost["transaction"]["id"]))["transaction"]["status"] == "succeeded"


# ---------------------------------------------------------------------- start-up
@pytest.mark.parametrize(("change", "named"), [
    ({"PAYMENTS_ALIPAY_APP_ID": ""}, "PAYMENTS_ALIPAY_APP_ID is not set"),
    ({"PAYMENTS_ALIPAY_PRIVATE_KEY": "/nowhere/app_private_key.pem"},
     "PAYMENTS_ALIPAY_PRIVATE_KEY is neither PEM text, a readable PEM file nor a base64 key"),
    ({"PAYMENTS_ENV": "production", "PAYMENTS_ALIPAY_GATEWAY": "https://openapi-sandbox.dl.alipaydev.com/gateway.do"},
     "PAYMENTS_ALIPAY_GATEWAY is Alipay's sandbox, refused in production")])
async def test_a_missing_or_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path, change, named):
    keys = TestKeys.generated()
    secret = private_pem(keys.app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update({"PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/payments.db", "PAYMENTS_JWT_SECRET": PROCESS_JWT_SECRET,
                "PAYMENTS_METHOD_ROUTES": "alipay=alipay", "PAYMENTS_ALIPAY_APP_ID": APP_ID,
                "PAYMENTS_ALIPAY_PRIVATE_KEY": secret, "PAYMENTS_ALIPAY_PUBLIC_KEY": public_pem(keys.alipay), **change})
    process = await asyncio.create_subprocess_exec(str(PAYMENTS_BIN), "serve", "--port", "0", env=env, cwd=tmp_path,
                                                   stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    message = stderr.decode()

    assert process.returncode != 0
    assert message.strip().count("\n") == 0 and named in message, message
    assert "BEGIN" not in message and pem_body(secret)[:32] not in message


async def _async(value):
    return value
