"""The WeChat Pay plugin end to end: `payments serve` (a real process) routes `wechat_pay` to the
plugin, whose API base points at a fake WeChat Pay served over real HTTP on 127.0.0.1
(tests/integration/plugins/wechat_pay/wechat_pay_fake.py, built to the published protocol). The
payer's side is the fake: `pay()` settles an order and writes the signed, encrypted notification
WeChat would POST, which the test delivers (or loses).

buy → `code_url` in the session → notification → receives credited (both verification modes,
and a rotated platform certificate); tampered, stale, wrong-serial and probe notifications →
401 in WeChat's format with nothing changed, authentic ones that do not match
their order acknowledged with nothing changed; a lost notification → the reconciler's query
credits; cancel → the WeChat order closed; a second payment of a paid transaction → refunded at
WeChat and settled by its refund notification. Start-up: a missing or malformed setting stops it
with one line naming it; `PAYMENTS_ENV=production` with the plugin routed starts.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest

from clock_support import advance_clock
from live import PAYMENTS_BIN, PROCESS_JWT_SECRET, Service, eventually, serve_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "plugins" / "wechat_pay"))
from wechat_pay_fake import FakeWeChatPay, FakeWeChatPayServer  # noqa: E402

WEBHOOK = "/api/v1/payments/webhooks/wechat_pay"
ROUTES = "wechat_pay=wechat_pay,mock=mock"
BEIJING = timezone(timedelta(hours=8))


class WeChatWorld:
    """The service, the fake WeChat Pay it calls, and a way to deliver WeChat's notifications."""

    def __init__(self, service: Service, fake: FakeWeChatPay) -> None:
        self.service = service
        self.fake = fake

    async def deliver(self, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        async with self.service.http.post(self.service.url(WEBHOOK), data=body,
                                          headers={**headers, "Content-Type": "application/json"}) as response:
            return response.status, await response.read()

    async def buy(self, amount: int = 10) -> dict:
        return await self.service.post("/api/v1/payments/receives", {"amount": amount, "payment_method": "wechat_pay"},
                                       expect=201)

    async def purchased(self) -> int:
        return (await self.service.get("/api/v1/payments/membership"))["receives"]["purchased_remaining"]

    async def session(self, session_id: str) -> dict:
        return await self.service.get(f"/api/v1/payments/sessions/{session_id}")

    async def transaction(self, transaction_id: str) -> dict:
        return await self.service.get(f"/api/v1/payments/transactions/{transaction_id}")


@asynccontextmanager
async def wechat_world(tmp_path: Path, mode: str = "public_key", **environ: str) -> AsyncIterator[WeChatWorld]:
    fake = FakeWeChatPay(mode=mode)
    with FakeWeChatPayServer(fake) as server:
        async with aiohttp.ClientSession() as http, serve_process(
                http, tmp_path, PAYMENTS_METHOD_ROUTES=ROUTES, **fake.settings(api_base=server.base_url),
                **environ) as service:
            yield WeChatWorld(service, fake)


def assert_refused(status: int, body: bytes) -> None:
    assert status == 401, (status, body)
    refusal = json.loads(body)
    assert refusal["code"] == "FAIL" and refusal["message"]


# ---------------------------------------------------------------------- buy, pay, credit
@pytest.mark.parametrize("mode", ["public_key", "certificate"])
async def test_a_purchase_shows_the_code_url_and_the_signed_encrypted_notification_credits_it_once(tmp_path, mode):
    async with wechat_world(tmp_path, mode) as world:
        bought = await world.buy(10)
        session, transaction = bought["session"], bought["transaction"]
        order = world.fake.orders[session["order_id"]]

        assert (session["provider"], session["payment_method"]) == ("wechat_pay", "wechat_pay")
        assert session["qr_code"] == order.code_url and session["qr_code"].startswith("weixin://wxpay/bizpayurl?pr=")
        assert session["qr_code_image"].startswith("data:image/svg+xml;base64,")
        expires_at = datetime.fromisoformat(session["expires_at"].replace("Z", "+00:00"))
        assert order.request == {
            "appid": world.fake.appid, "mchid": world.fake.mchid, "description": order.request["description"],
            "out_trade_no": session["order_id"], "time_expire": expires_at.astimezone(BEIJING).isoformat(),
            "notify_url": world.service.url(WEBHOOK), "amount": {"total": transaction["total"], "currency": "CNY"}}

        headers, body = world.fake.pay(session["order_id"], openid="oE2EPayer")
        assert await world.deliver(headers, body) == (204, b"")

        assert await world.purchased() == 10
        assert (await world.session(session["id"]))["status"] == "completed"
        assert (await world.transaction(transaction["id"]))["transaction"]["status"] == "succeeded"
        again = world.fake.sign(body)  # WeChat re-sends it, signed anew: acknowledged, applied once
        assert await world.deliver(again, body) == (204, b"")
        assert await world.purchased() == 10

    logged = (tmp_path / "server.log").read_text()
    assert "WeChat Pay POST /v3/pay/transactions/native -> 200" in logged  # calls are logged (Request-ID)…
    assert world.fake.api_v3_key not in logged and "PRIVATE KEY" not in logged  # …secrets never


async def test_a_notification_signed_by_a_rotated_platform_certificate_is_verified_after_downloading_it(tmp_path):
    async with wechat_world(tmp_path, "certificate") as world:
        first = await world.buy(3)
        assert await world.deliver(*world.fake.pay(first["session"]["order_id"])) == (204, b"")
        downloads = sum(1 for q in world.fake.requests if q.path == "/v3/certificates")

        new_serial = world.fake.rotate_certificate()
        second = await world.buy(4)  # its answer is signed with the new certificate too
        headers, body = world.fake.pay(second["session"]["order_id"])
        assert headers["Wechatpay-Serial"] == new_serial

        assert await world.deliver(headers, body) == (204, b"")
        assert await world.purchased() == 7
        assert sum(1 for q in world.fake.requests if q.path == "/v3/certificates") == downloads + 1


# ---------------------------------------------------------------------- refusals change nothing
async def test_tampered_stale_wrong_serial_and_probe_notifications_are_refused_and_change_nothing(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await world.buy(10)
        order_id = bought["session"]["order_id"]
        headers, body = world.fake.pay(order_id)
        resource = world.fake.decrypt(body)
        resource["amount"] = {**resource["amount"], "total": 1}
        notification = json.loads(body)
        notification["resource"] = {"original_type": "transaction",
                                    **world.fake.encrypt(json.dumps(resource).encode(), "transaction")}
        tampered = json.dumps(notification).encode()
        now = int(time.time())
        cases = {
            "tampered": (headers, tampered),
            "stale": (world.fake.sign(body, at=now - 301), body),
            "from the future": (world.fake.sign(body, at=now + 301), body),
            "wrong serial": ({**headers, "Wechatpay-Serial": "PUB_KEY_ID_0119999999999999999999"}, body),
            "unknown certificate serial": ({**headers, "Wechatpay-Serial": "6" * 40}, body),
            "probe": ({**headers, "Wechatpay-Signature": "WECHATPAY/SIGNTEST/" + headers["Wechatpay-Signature"]},
                      body),
            "unsigned": ({k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body),
        }
        for what, (case_headers, case_body) in cases.items():
            status, answer = await world.deliver(case_headers, case_body)
            assert_refused(status, answer), what

        # Authentic but not matching the order (amount, merchant's app): acknowledged, nothing changed.
        other_app = {**world.fake.decrypt(body), "appid": "wxSOMEONEELSE00000"}
        notification["resource"] = {"original_type": "transaction",
                                    **world.fake.encrypt(json.dumps(other_app).encode(), "transaction")}
        for anomaly in (tampered, json.dumps(notification).encode()):
            assert await world.deliver(world.fake.sign(anomaly), anomaly) == (204, b"")

        assert await world.purchased() == 0
        assert (await world.session(bought["session"]["id"]))["status"] == "open"
        assert (await world.transaction(bought["transaction"]["id"]))["transaction"]["status"] == "pending"
        assert await world.deliver(headers, body) == (204, b"")  # the authentic one still counts
        assert await world.purchased() == 10


# ---------------------------------------------------------------------- lost notifications
async def test_a_lost_notification_is_credited_by_the_reconcilers_query(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await world.buy(5)
        world.fake.pay(bought["session"]["order_id"])  # the notification never arrives

        # The reconciler asks WeChat about a pending session a minute after it opened: the test clock
        # brings that minute now (and wakes the job) instead of the test waiting for it.
        await advance_clock(world.service, 60)
        await eventually(world.purchased, lambda purchased: purchased == 5, timeout=15,
                         what="the reconciler to credit the paid order")

        queries = [q for q in world.fake.requests if q.method == "GET" and bought["session"]["order_id"] in q.path]
        assert queries and queries[0].path.endswith(f"?mchid={world.fake.mchid}")
        assert (await world.session(bought["session"]["id"]))["status"] == "completed"


# ---------------------------------------------------------------------- cancel, refund
async def test_cancelling_closes_the_wechat_order(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await world.buy(2)
        order_id = bought["session"]["order_id"]

        await world.service.post("/api/v1/payments/cancel", {"transaction_id": bought["transaction"]["id"],
                                                             "reason": "changed my mind"})

        assert world.fake.orders[order_id].state == "CLOSED"
        close = [q for q in world.fake.requests if q.path == f"/v3/pay/transactions/out-trade-no/{order_id}/close"]
        assert len(close) == 1 and close[0].json() == {"mchid": world.fake.mchid}


async def test_a_second_payment_of_a_paid_transaction_is_refunded_at_wechat_and_settled_by_its_notification(tmp_path):
    async with wechat_world(tmp_path) as world:
        bought = await world.buy(10)
        first = bought["session"]
        first_paid = world.fake.pay(first["order_id"])  # paid, but its notification is late
        second = await world.service.post("/api/v1/payments/sessions", {"transaction_id": bought["transaction"]["id"]},
                                          expect=201)
        assert world.fake.orders[first["order_id"]].state == "SUCCESS"  # WeChat refused to close a paid order

        assert await world.deliver(*world.fake.pay(second["order_id"])) == (204, b"")
        assert await world.deliver(*first_paid) == (204, b"")  # the late one: a second payment

        refund = next(r for r in world.fake.refunds.values() if r.out_trade_no == first["order_id"])
        assert (refund.refund, refund.total) == (first["amount"], first["amount"])
        assert refund.notify_url == world.service.url(WEBHOOK)
        assert await world.deliver(*world.fake.settle_refund(refund.out_refund_no)) == (204, b"")

        await eventually(lambda: world.session(first["id"]), lambda s: s["status"] == "refunded",
                         what="the second payment's session to read refunded")
        assert await world.purchased() == 10
        detail = await world.transaction(bought["transaction"]["id"])
        assert detail["transaction"]["status"] == "succeeded" and detail["transaction"]["refunded_amount"] == 0


# ---------------------------------------------------------------------- start-up
def serve_until_ready_or_exit(tmp_path: Path, environ: dict[str, str]) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAYMENTS_")}
    env.update({"PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/payments.db", "PAYMENTS_JWT_SECRET": PROCESS_JWT_SECRET,
                "PAYMENTS_METHOD_ROUTES": "wechat_pay=wechat_pay", **environ})
    return subprocess.run([str(PAYMENTS_BIN), "serve", "--port", "0"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)


@pytest.mark.parametrize(("change", "named"), [
    ({"PAYMENTS_WECHAT_PAY_MCHID": ""}, "PAYMENTS_WECHAT_PAY_MCHID is not set"),
    ({"PAYMENTS_WECHAT_PAY_API_V3_KEY": "short"}, "PAYMENTS_WECHAT_PAY_API_V3_KEY must be exactly 32 bytes"),
    ({"PAYMENTS_WECHAT_PAY_PRIVATE_KEY": "/nowhere/apiclient_key.pem"}, "PAYMENTS_WECHAT_PAY_PRIVATE_KEY"),
    ({"PAYMENTS_ENV": "production", "PAYMENTS_WECHAT_PAY_API_BASE": "http://wechat.example.test"},
     "PAYMENTS_WECHAT_PAY_API_BASE must be an https URL in production")])
def test_a_missing_or_malformed_setting_stops_start_up_with_one_line_naming_it(tmp_path, change, named):
    settings = FakeWeChatPay().settings(api_base="https://api.mch.weixin.qq.com")

    result = serve_until_ready_or_exit(tmp_path, {**settings, **change})

    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and named in result.stderr, result.stderr
    assert "BEGIN" not in result.stderr and settings["PAYMENTS_WECHAT_PAY_API_V3_KEY"] not in result.stderr


async def test_production_with_the_plugin_routed_starts(tmp_path):
    settings = FakeWeChatPay().settings()  # the real API base: nothing is called at start-up
    async with aiohttp.ClientSession() as http, serve_process(
            http, tmp_path, PAYMENTS_ENV="production", PAYMENTS_METHOD_ROUTES="wechat_pay=wechat_pay",
            **settings) as service:
        methods = (await service.get("/api/v1/payments/methods"))["methods"]
        wechat = next(m for m in methods if m["id"] == "wechat_pay")
        assert wechat["available"] is True and wechat["flows"] == ["qr_code"] and wechat["currencies"] == ["CNY"]
