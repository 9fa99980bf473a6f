"""The official SDK `wechatpayv3` (2.0.4, offline) as an independent oracle, never the plugin's
code path (PROTOCOLS §5-6.1):

- the plugin signs a request exactly as the SDK signs it (RSA PKCS#1 v1.5 is deterministic: the
  same message gives the same signature), over the bytes it really sent;
- the fake WeChat Pay accepts the SDK's own requests, and the SDK accepts the fake's answers and
  its `/v3/certificates` (so the fake the plugin is tested against is WeChat as the SDK knows it);
- notifications the SDK accepts, the plugin accepts with the same values; those the SDK refuses,
  the plugin refuses; and the plugin also refuses stale ones, which the SDK does not check.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
import respx
from wechatpayv3 import WeChatPay, WeChatPayType
from wechatpayv3.async_ import AsyncWeChatPay
from wechatpayv3.async_ import WeChatPayType as AsyncWeChatPayType  # the async package's own enum
from wechatpayv3.utils import rsa_sign

import plugins
from adapters.clock import SystemClock
from domain.errors import InvalidSignatureError
from domain.money import CNY, Money
from ports.payment_provider import ProviderEventKind
from wechat_pay_fake import FakeWeChatPay
from wechat_pay_keys import new_key, private_pem, public_pem
from wechat_pay_support import NOTIFY_URL, rig

GATEWAY = "https://api.mch.weixin.qq.com"
MODES = ("public_key", "certificate")


def sdk_mode(fake: FakeWeChatPay, cert_dir: Path) -> dict:
    """The SDK's verification settings for the fake's mode (certificates as PEM files, offline)."""
    if fake.mode == "public_key":
        return {"public_key": public_pem(fake.public_key), "public_key_id": fake.public_key_id}
    for certificate in fake.certificates:
        (cert_dir / f"{certificate.serial}.pem").write_text(certificate.pem)
    return {"cert_dir": str(cert_dir)}


def sync_sdk(fake: FakeWeChatPay, cert_dir: Path, apiv3_key: str | None = None) -> WeChatPay:
    return WeChatPay(wechatpay_type=WeChatPayType.NATIVE, mchid=fake.mchid, private_key=private_pem(fake.merchant_key),
                     cert_serial_no=fake.merchant_serial, appid=fake.appid, apiv3_key=apiv3_key or fake.api_v3_key,
                     notify_url=NOTIFY_URL, **sdk_mode(fake, cert_dir))


def plugin_for(fake: FakeWeChatPay):
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake.handle))
    return plugins.discover(["wechat_pay"], fake.settings(), http=http, clock=SystemClock())["wechat_pay"]


# ---------------------------------------------------------------------- requests
@pytest.mark.parametrize("mode", MODES)
async def test_the_plugin_signs_each_request_exactly_as_the_sdk_signs_the_bytes_sent(mode):
    r = rig(mode)
    order = r.order(description="会员 10 次")
    await r.provider.open_payment(order)
    await r.provider.query_payment(order.order_id)
    await r.provider.close_payment(order.order_id)

    assert len(r.fake.requests) >= 3
    for sent in r.fake.requests:
        fields = sent.authorization
        sdk_message = "%s\n%s\n%s\n%s\n%s\n" % (sent.method, sent.path, fields["timestamp"], fields["nonce_str"],
                                                sent.body.decode("utf-8"))
        assert rsa_sign(r.fake.merchant_key, sdk_message) == fields["signature"], sent.path


# ---------------------------------------------------------------------- the fake, checked by the SDK
@pytest.mark.parametrize("mode", MODES)
async def test_the_fake_serves_the_official_sdk_which_verifies_every_answer(mode):
    fake = FakeWeChatPay(mode=mode)  # on real time: the SDK signs with time.time()
    with respx.mock(base_url=GATEWAY, assert_all_called=False) as mock:
        mock.route().mock(side_effect=fake.handle)
        async with AsyncWeChatPay(wechatpay_type=AsyncWeChatPayType.NATIVE, mchid=fake.mchid,
                                  private_key=private_pem(fake.merchant_key), cert_serial_no=fake.merchant_serial,
                                  appid=fake.appid, apiv3_key=fake.api_v3_key, notify_url=NOTIFY_URL,
                                  **({"public_key": public_pem(fake.public_key), "public_key_id": fake.public_key_id}
                                     if mode == "public_key" else {})) as sdk:
            code, answer = await sdk.pay(description="10 receives", out_trade_no="S20260301SDK00001",
                                         amount={"total": 1700, "currency": "CNY"},
                                         time_expire="2099-01-01T12:00:00+08:00")
            assert code == 200 and json.loads(answer)["code_url"] == fake.orders["S20260301SDK00001"].code_url
            code, answer = await sdk.query(out_trade_no="S20260301SDK00001")
            assert code == 200 and json.loads(answer)["trade_state"] == "NOTPAY"
            fake.pay("S20260301SDK00001")
            code, answer = await sdk.query(out_trade_no="S20260301SDK00001")
            assert code == 200 and json.loads(answer)["amount"]["total"] == 1700
            code, answer = await sdk.refund(out_refund_no="R20260301SDK00001", out_trade_no="S20260301SDK00001",
                                            amount={"refund": 900, "total": 1700, "currency": "CNY"}, reason="test")
            assert code == 200 and json.loads(answer)["status"] == "PROCESSING"
            code, answer = await sdk.query_refund(out_refund_no="R20260301SDK00001")
            assert code == 200 and json.loads(answer)["amount"]["refund"] == 900
            code, _ = await sdk.close(out_trade_no="S20260301SDK00002")
            assert code == 404  # unknown: ORDER_NOT_EXIST, as WeChat answers
            await sdk.pay(description="x", out_trade_no="S20260301SDK00002", amount={"total": 1, "currency": "CNY"})
            code, answer = await sdk.close(out_trade_no="S20260301SDK00002")
            assert code == 204 and not answer  # signed over an empty body, and the SDK verified it
    assert [q.path.partition("?")[0] for q in fake.requests][:1] == (
        ["/v3/certificates"] if mode == "certificate" else ["/v3/pay/transactions/native"])


async def test_the_sdk_refuses_an_answer_of_the_fake_changed_after_signing():
    fake = FakeWeChatPay()

    def changed(request: httpx.Request) -> httpx.Response:
        response = fake.handle(request)
        return httpx.Response(response.status_code, headers=response.headers,
                              content=response.content.replace(b"weixin://", b"weixin://EVIL"))

    with respx.mock(base_url=GATEWAY) as mock:
        mock.route().mock(side_effect=changed)
        async with AsyncWeChatPay(wechatpay_type=AsyncWeChatPayType.NATIVE, mchid=fake.mchid,
                                  private_key=private_pem(fake.merchant_key), cert_serial_no=fake.merchant_serial,
                                  appid=fake.appid, apiv3_key=fake.api_v3_key, notify_url=NOTIFY_URL,
                                  public_key=public_pem(fake.public_key), public_key_id=fake.public_key_id) as sdk:
            with pytest.raises(Exception, match="verify"):
                await sdk.pay(description="x", out_trade_no="S20260301SDK00003", amount={"total": 1, "currency": "CNY"})


# ---------------------------------------------------------------------- notifications
@pytest.mark.parametrize("mode", MODES)
async def test_notifications_the_sdk_accepts_the_plugin_accepts_with_the_same_values(mode, tmp_path):
    fake = FakeWeChatPay(mode=mode)
    sdk, plugin = sync_sdk(fake, tmp_path), plugin_for(fake)
    notifications = [fake.transaction_notification("S20260301SDK00001", 29),
                     fake.refund_notification("S20260301SDK00001", "R20260301SDK00001", 10, 29, status="SUCCESS"),
                     fake.refund_notification("S20260301SDK00001", "R20260301SDK00002", 10, 29, status="ABNORMAL")]

    for headers, body in notifications:
        for shown in (headers, {k.lower(): v for k, v in headers.items()}):
            verified = sdk.callback(shown, body)
            assert verified is not None, "the SDK refuses what the fake sends"
            await plugin.prepare_notification(shown, body)
            event = plugin.parse_notification(shown, body)
            resource = verified["resource"]
            assert event.event_id == verified["id"] and event.order_id == resource["out_trade_no"]
            if verified["event_type"] == "TRANSACTION.SUCCESS":
                assert event.kind is ProviderEventKind.PAYMENT_SUCCEEDED
                assert event.amount == Money(resource["amount"]["total"], CNY) == Money(29, CNY)
                assert event.payer_id == resource["payer"]["openid"]
                assert event.merchant_id == resource["mchid"] and event.provider_reference == resource["transaction_id"]
            else:
                assert event.refund_order_id == resource["out_refund_no"]
                assert event.kind is (ProviderEventKind.REFUND_SUCCEEDED if resource["refund_status"] == "SUCCESS"
                                      else ProviderEventKind.REFUND_FAILED)


@pytest.mark.parametrize("mode", MODES)
async def test_notifications_the_sdk_refuses_the_plugin_refuses_too(mode, tmp_path):
    fake = FakeWeChatPay(mode=mode)
    sdk, plugin = sync_sdk(fake, tmp_path), plugin_for(fake)
    headers, body = fake.transaction_notification("S20260301SDK00001", 1700)
    await plugin.prepare_notification(headers, body)
    other_key = fake.sign(body, key=new_key(), serial=headers["Wechatpay-Serial"])
    tampered = body.replace(b'"EV-', b'"XX-')
    cases = {"a tampered body": (headers, tampered), "another key": (other_key, body)}
    for what, (case_headers, case_body) in cases.items():
        assert sdk.callback(case_headers, case_body) is None, what
        with pytest.raises(InvalidSignatureError):
            plugin.parse_notification(case_headers, case_body)

    wrong_apiv3 = sync_sdk(fake, tmp_path, apiv3_key="z" * 32)
    assert wrong_apiv3.callback(headers, body) is None
    other_merchant = FakeWeChatPay(mode=mode)
    other_merchant.public_key, other_merchant.public_key_id = fake.public_key, fake.public_key_id
    other_merchant.certificates = fake.certificates
    foreign_headers, foreign_body = other_merchant.transaction_notification("S20260301SDK00001", 1700)
    assert sdk.callback(foreign_headers, foreign_body) is None  # sealed with another APIv3 key
    with pytest.raises(InvalidSignatureError):
        plugin.parse_notification(foreign_headers, foreign_body)


async def test_a_stale_notification_the_sdk_would_accept_is_refused_by_the_plugin(tmp_path):
    fake = FakeWeChatPay()
    sdk, plugin = sync_sdk(fake, tmp_path), plugin_for(fake)
    _, body = fake.transaction_notification("S20260301SDK00001", 1700)
    stale = fake.sign(body, at=int(time.time()) - 86400)

    assert sdk.callback(stale, body) is not None  # the SDK does not check freshness (PROTOCOLS B5)
    with pytest.raises(InvalidSignatureError, match="stale"):
        plugin.parse_notification(stale, body)
