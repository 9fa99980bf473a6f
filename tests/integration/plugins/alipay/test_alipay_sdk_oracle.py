"""The official python-alipay-sdk (3.4.0, `from alipay import AliPay`) as an offline oracle
(`../shared/providers/oracles/alipay_oracle.py`): the plugin's signed requests are byte-identical
to what the SDK signs for the same parameters, its page URLs are the SDK's own output, the SDK's
verification accepts what the plugin signs, and every notification and answer the SDK accepts the
plugin accepts (and what the SDK refuses, the plugin refuses)."""
from __future__ import annotations

import json
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from alipay import AliPay
from alipay.exceptions import AliPayException, AliPayValidationError

from alipay_fake_gateway import APP_ID, GATEWAY, TestKeys, private_pem, public_pem, rsa2_sign, sign_content, \
    signed_response
from alipay_harness import AlipayHarness
from domain.errors import InvalidSignatureError, ProviderError
from domain.money import CNY, Money
from plugins.alipay import signing
from plugins.alipay.gateway import Gateway
from ports.payment_provider import Flow, ProviderEventKind, RefundOrder

NOTIFY_URL = "https://payments.example.test/api/v1/payments/webhooks/alipay"


def sdk(*, verifier=None, pkcs1: bool = False) -> AliPay:
    """The SDK for our app: it signs with our private key and verifies with Alipay's public key
    (or `verifier`'s)."""
    keys = TestKeys.generated()
    return AliPay(appid=APP_ID, app_notify_url=NOTIFY_URL, app_private_key_string=private_pem(keys.app, pkcs1=pkcs1),
                  alipay_public_key_string=public_pem(verifier or keys.alipay), sign_type="RSA2", debug=True)


@pytest.fixture
def h() -> AlipayHarness:
    return AlipayHarness()


def without_sign(params: dict[str, str]) -> tuple[dict[str, str], str]:
    params = dict(params)
    return params, params.pop("sign")


@pytest.mark.parametrize("description", ["10 receives", "10 个收款 · VIP 会员", 'quotes " and \\ and + % #'])
async def test_a_precreate_request_is_signed_byte_identically_to_the_sdk(h, description):
    await h.provider.open_payment(h.order(description=description))
    params, ours = without_sign(h.gateway.calls[-1])

    for pkcs1 in (False, True):  # either form of our private key
        assert dict(parse_qsl(sdk(pkcs1=pkcs1).sign_data(dict(params))))["sign"] == ours
    # the string signed, as the SDK builds it before signing, is the plugin's
    assert "&".join(f"{k}={v}" for k, v in sdk()._ordered_data(dict(params))) == signing.sign_content(params)
    assert json.loads(params["biz_content"])["subject"] == description
    if description.startswith("10 个"):
        assert "个收款" in params["biz_content"]  # raw UTF-8 JSON, serialised once, not \u escapes


async def test_every_server_call_is_signed_byte_identically_to_the_sdk(h):
    paid = h.order()
    await h.provider.open_payment(paid)
    h.pay_remotely(paid.order_id)
    await h.provider.query_payment(paid.order_id)
    await h.provider.close_payment(h.order().order_id)
    refund = RefundOrder("R2026030100001", paid.order_id, Money(500, CNY), paid.amount, "bought by mistake")
    await h.provider.refund(refund)
    await h.provider.query_refund(refund.refund_order_id, paid.order_id)

    methods = [call["method"] for call in h.gateway.calls]
    assert methods == ["alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close", "alipay.trade.refund",
                       "alipay.trade.fastpay.refund.query"]
    oracle = sdk()
    for call in h.gateway.calls:
        params, ours = without_sign(call)
        assert dict(parse_qsl(oracle.sign_data(dict(params))))["sign"] == ours, call["method"]


@pytest.mark.parametrize(("flow", "sdk_call"), [
    (Flow.REDIRECT, "api_alipay_trade_page_pay"), (Flow.MOBILE_REDIRECT, "api_alipay_trade_wap_pay")])
async def test_a_page_url_is_the_sdks_own_output_for_the_same_parameters(h, flow, sdk_call, monkeypatch):
    order = h.order(flow=flow, description="VIP 会员")
    url = (await h.provider.open_payment(order)).payment_url
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    biz = json.loads(params["biz_content"])

    # The SDK writes biz_content with ensure_ascii=True; given the plugin's string it signs that as it is.
    oracle = sdk()
    monkeypatch.setattr(oracle, "build_body", lambda method, biz_content, **kwargs: {
        k: v for k, v in params.items() if k != "sign"})
    expected = getattr(oracle, sdk_call)(subject=biz["subject"], out_trade_no=order.order_id,
                                         total_amount=biz["total_amount"], return_url=order.return_url)

    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GATEWAY
    assert parts.query == expected  # byte for byte: sorted, quote_plus, sign last


async def test_the_sdks_verification_accepts_what_the_plugin_signs(h):
    await h.provider.open_payment(h.order(description="会员"))
    params, ours = without_sign(h.gateway.calls[-1])
    # The SDK as the *receiving* side of our signature: verifying with our app's public key.
    receiver = sdk(verifier=TestKeys.generated().app)

    assert receiver._verify(sign_content(params), ours) is True
    assert receiver._verify(sign_content({**params, "timestamp": "2026-03-01 20:00:01"}), ours) is False


# ---------------------------------------------------------------------- what the SDK accepts, the plugin accepts
def sdk_accepts_notification(body: bytes, verifier=None) -> bool:
    data = dict(parse_qsl(body.decode(), keep_blank_values=True))
    signature = data.pop("sign")
    try:
        return sdk(verifier=verifier).verify(data, signature)
    except AliPayException:
        return False


def plugin_accepts_notification(h: AlipayHarness, body: bytes) -> bool:
    try:
        h.provider.parse_notification({}, body)
    except InvalidSignatureError:
        return False
    return True


def sdk_signed(h: AlipayHarness, fields: dict[str, str], *, keep_empty: bool) -> bytes:
    """A notification signed the way python-alipay-sdk reads it: empty values kept as `k=`."""
    fields = {**fields, "sign_type": "RSA2"}
    content = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if k not in ("sign", "sign_type")) \
        if keep_empty else sign_content(fields, exclude=("sign", "sign_type"))
    return urlencode({**fields, "sign": rsa2_sign(h.keys.alipay, content)}).encode()


@pytest.mark.parametrize("extra", [
    {}, {"subject": "收款 + 10 & = % 会员"}, {"body": ""}, {"passback_params": "a=1&b=2"},
    {"fund_bill_list": '[{"amount":"17.00","fundChannel":"PCREDIT"}]'}, {"unfamiliar_field": "kept in the signature"}])
@pytest.mark.parametrize("keep_empty", [False, True])
async def test_every_notification_the_sdk_accepts_the_plugin_accepts(h, extra, keep_empty):
    fields = {**h.gateway.notification_fields("C2026030100001", 1700, "TRADE_SUCCESS"), **extra}
    body = sdk_signed(h, fields, keep_empty=keep_empty)

    # Empty values: Alipay (its Java SDK) leaves them out of the signed text, python-alipay-sdk keeps
    # them as `k=`; the plugin accepts both readings, so everything the SDK accepts, and Alipay's own.
    assert sdk_accepts_notification(body) is (keep_empty or "" not in fields.values())
    assert plugin_accepts_notification(h, body)
    event = h.provider.parse_notification({}, body)
    assert (event.kind, event.amount, event.order_id) == (ProviderEventKind.PAYMENT_SUCCEEDED, Money(1700, CNY),
                                                          "C2026030100001")


async def test_what_the_sdk_refuses_the_plugin_refuses(h):
    order = h.order()
    _, body = h.signed_notification(order)
    tampered = body.replace(b"total_amount=17.00", b"total_amount=0.01")
    forged = h.forged_notification(order)[1]
    other_type = body.replace(b"sign_type=RSA2", b"sign_type=RSA")

    for case in (tampered, forged, other_type):
        assert not sdk_accepts_notification(case)
        assert not plugin_accepts_notification(h, case)
    assert sdk_accepts_notification(body) and plugin_accepts_notification(h, body)


async def test_every_answer_the_sdk_accepts_the_plugin_accepts_and_no_other():
    keys = TestKeys.generated()
    payload = {"code": "10000", "msg": "Success", "out_trade_no": "C2026030100001",
               "qr_code": "https://qr.alipay.com/bax03431ljhokirwl38f00a7", "note": "含 {braces} and \"quotes\""}
    good = signed_response("alipay.trade.precreate", payload, keys.alipay)
    spaced = good.replace('":{', '": {', 1)  # whitespace around the node: the signed text is what is inside
    cases = {"signed": good, "spaced": spaced, "tampered": good.replace("C2026030100001", "C2026030100009"),
             "foreign": signed_response("alipay.trade.precreate", payload, keys.stranger),
             "unsigned": json.dumps({"alipay_trade_precreate_response": payload})}
    node = "alipay_trade_precreate_response"
    h = AlipayHarness()
    gateway: Gateway = h.provider._gateway

    for name, raw in cases.items():
        try:
            sdk()._verify_and_return_sync_response(raw, node)
            sdk_accepts = True
        except (AliPayException, AliPayValidationError):
            sdk_accepts = False
        try:
            import httpx
            gateway._answer("alipay.trade.precreate", httpx.Response(200, text=raw))
            plugin_accepts = True
        except ProviderError:
            plugin_accepts = False
        assert plugin_accepts == sdk_accepts == (name in ("signed", "spaced")), name
