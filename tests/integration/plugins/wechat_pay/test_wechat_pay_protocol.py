"""The WeChat Pay plugin speaks API v3 as PROTOCOLS §2 says, against the fake WeChat Pay: what it
sends (signed over the exact bytes, integer fen, +08:00 `time_expire`, our order ids as WeChat's
idempotency keys), how it reads what comes back (trade states, refund states, errors, timeouts),
and that it believes no answer whose signature it has not verified."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import attrs
import httpx
import pytest

from domain.errors import ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.money import USD, Money
from plugins.wechat_pay.client import USER_AGENT
from ports.payment_provider import PaymentState, RefundOrder, RefundState
from wechat_pay_keys import new_key
from wechat_pay_support import NOTIFY_URL, rig

MODES = ("public_key", "certificate")


def refund_of(order, amount: int, refund_order_id: str = "R20260301K3M9Q2", **changes) -> RefundOrder:
    values = dict(refund_order_id=refund_order_id, payment_order_id=order.order_id,
                  amount=Money(amount, order.amount.currency), payment_total=order.amount,
                  reason="bought by mistake", notify_url=NOTIFY_URL)
    return RefundOrder(**{**values, **changes})


# ---------------------------------------------------------------------- Native orders
@pytest.mark.parametrize("mode", MODES)
async def test_a_native_order_is_opened_with_our_order_id_integer_fen_beijing_expiry_and_our_webhook(mode):
    r = rig(mode)
    order = r.order(description="10 receives · 收款 10 次")

    instructions = await r.provider.open_payment(order)

    sent = r.fake.requests[0]
    assert (sent.method, sent.path) == ("POST", "/v3/pay/transactions/native")
    # Certificate mode: the answer names a platform certificate not held yet, downloaded to verify it.
    assert [q.path for q in r.fake.requests[1:]] == (["/v3/certificates"] if mode == "certificate" else [])
    assert sent.json() == {"appid": r.fake.appid, "mchid": r.fake.mchid, "description": "10 receives · 收款 10 次",
                           "out_trade_no": order.order_id, "time_expire": "2026-03-01T21:00:00+08:00",
                           "notify_url": NOTIFY_URL, "amount": {"total": 1700, "currency": "CNY"}}
    assert sent.body == json.dumps(sent.json(), ensure_ascii=False, separators=(",", ":")).encode()
    assert sent.authorization["timestamp"] == str(int(r.clock.now().timestamp()))  # the service's clock
    assert sent.authorization["mchid"] == r.fake.mchid and sent.authorization["serial_no"] == r.fake.merchant_serial
    assert sent.headers["accept"] == "application/json" and sent.headers["content-type"] == "application/json"
    assert sent.headers["user-agent"] == USER_AGENT
    # Public-key mode names WeChat's key on every request, as the SDK does; certificate mode does not.
    assert sent.headers.get("wechatpay-serial") == (r.fake.public_key_id if mode == "public_key" else None)
    assert instructions.qr_code == r.fake.orders[order.order_id].code_url
    assert instructions.qr_code.startswith("weixin://wxpay/bizpayurl?pr=") and instructions.payment_url is None


async def test_opening_the_same_order_again_answers_the_same_code_and_a_paid_one_is_refused():
    r = rig()
    order = r.order()
    first = await r.provider.open_payment(order)

    assert (await r.provider.open_payment(order)).qr_code == first.qr_code
    assert len(r.fake.orders) == 1
    r.fake.pay(order.order_id)
    with pytest.raises(ProviderError) as refused:
        await r.provider.open_payment(order)
    assert not isinstance(refused.value, ProviderUnavailableError) and "paid" in str(refused.value)


async def test_descriptions_lose_what_wechat_refuses_and_stay_within_127_characters():
    r = rig()

    await r.provider.open_payment(r.order(description="Receives 🎉\u0007 " + "x" * 200))

    description = r.fake.requests[-1].json()["description"]
    assert description == ("Receives " + "x" * 200)[:127] and len(description) == 127


async def test_an_order_in_another_currency_is_refused_before_anything_is_sent():
    r = rig()

    with pytest.raises(ProviderError, match="CNY"):
        await r.provider.open_payment(attrs.evolve(r.order(), amount=Money(1700, USD)))

    assert r.fake.requests == []


# ---------------------------------------------------------------------- queries
@pytest.mark.parametrize(("trade_state", "state"), [
    ("NOTPAY", PaymentState.PENDING), ("USERPAYING", PaymentState.PENDING), ("CLOSED", PaymentState.CLOSED),
    ("REVOKED", PaymentState.CLOSED), ("PAYERROR", PaymentState.FAILED)])
async def test_trade_states_map_to_the_ports_states(trade_state, state):
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.orders[order.order_id].state = trade_state

    status = await r.provider.query_payment(order.order_id)

    assert (status.order_id, status.state) == (order.order_id, state)
    sent = r.fake.requests[-1]
    assert (sent.method, sent.path, sent.body) == (
        "GET", f"/v3/pay/transactions/out-trade-no/{order.order_id}?mchid={r.fake.mchid}", b"")
    assert status.failure_reason == ("PAYERROR" if state is PaymentState.FAILED else None)


@pytest.mark.parametrize("mode", MODES)
async def test_a_paid_order_queries_as_succeeded_with_amount_transaction_id_time_and_payer(mode):
    r = rig(mode)
    order = r.order(amount=29)
    await r.provider.open_payment(order)
    r.fake.pay(order.order_id, openid="oPayer123")

    status = await r.provider.query_payment(order.order_id)

    paid = r.fake.orders[order.order_id]
    assert status.state is PaymentState.SUCCEEDED and status.amount == Money(29, order.amount.currency)
    assert status.provider_reference == paid.transaction_id and status.payer_id == "oPayer123"
    assert status.paid_at == datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
    r.fake.orders[order.order_id].state = "REFUND"  # a refund started: still a paid order
    assert (await r.provider.query_payment(order.order_id)).state is PaymentState.SUCCEEDED


async def test_an_unknown_trade_state_or_an_answer_about_another_order_is_a_provider_error():
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.orders[order.order_id].state = "SOMETHING_NEW"
    with pytest.raises(ProviderError, match="trade_state"):
        await r.provider.query_payment(order.order_id)

    r.fake.orders[order.order_id].state = "NOTPAY"
    r.fake.orders[order.order_id].request["out_trade_no"] = "S20260301OTHER0000"
    with pytest.raises(ProviderError, match="another order"):
        await r.provider.query_payment(order.order_id)


# ---------------------------------------------------------------------- closing
async def test_closing_posts_the_mchid_and_accepts_the_signed_204_and_a_paid_order_is_refused():
    r = rig("certificate")
    order, paid = r.order(), r.order("S20260301PAID00001")
    for each in (order, paid):
        await r.provider.open_payment(each)
    r.fake.pay(paid.order_id)

    await r.provider.close_payment(order.order_id)

    sent = r.fake.requests[-1]
    assert (sent.method, sent.path, sent.json()) == (
        "POST", f"/v3/pay/transactions/out-trade-no/{order.order_id}/close", {"mchid": r.fake.mchid})
    assert r.fake.orders[order.order_id].state == "CLOSED"
    with pytest.raises(ProviderError, match="paid"):
        await r.provider.close_payment(paid.order_id)
    assert r.fake.orders[paid.order_id].state == "SUCCESS"


# ---------------------------------------------------------------------- refunds
async def test_a_refund_sends_both_amounts_in_fen_our_refund_number_reason_and_notify_url():
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.pay(order.order_id)

    result = await r.provider.refund(refund_of(order, 900, reason="bought by mistake " + "x" * 100))

    sent = r.fake.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/v3/refund/domestic/refunds")
    assert sent.json() == {"out_trade_no": order.order_id, "out_refund_no": "R20260301K3M9Q2",
                           "reason": ("bought by mistake " + "x" * 100)[:80], "notify_url": NOTIFY_URL,
                           "amount": {"refund": 900, "total": 1700, "currency": "CNY"}}
    assert (result.refund_order_id, result.state) == ("R20260301K3M9Q2", RefundState.PENDING)
    assert result.provider_reference == r.fake.refunds["R20260301K3M9Q2"].refund_id


async def test_a_refund_without_notify_url_or_reason_leaves_them_out():
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.pay(order.order_id)

    await r.provider.refund(refund_of(order, 1700, notify_url=None, reason=""))

    assert set(r.fake.requests[-1].json()) == {"out_trade_no", "out_refund_no", "amount"}


@pytest.mark.parametrize(("status", "state", "reason"), [
    ("SUCCESS", RefundState.SUCCEEDED, None), ("PROCESSING", RefundState.PENDING, None),
    ("ABNORMAL", RefundState.FAILED, "abnormal"), ("CLOSED", RefundState.FAILED, "closed")])
async def test_refund_statuses_map_to_the_ports_states_and_a_failed_one_says_why(status, state, reason):
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.pay(order.order_id)
    refund = refund_of(order, 1700)
    await r.provider.refund(refund)
    r.fake.refunds[refund.refund_order_id].status = status

    result = await r.provider.query_refund(refund.refund_order_id, order.order_id)

    assert (result.refund_order_id, result.state, result.failure_reason) == (refund.refund_order_id, state, reason)
    assert r.fake.requests[-1].path == f"/v3/refund/domestic/refunds/{refund.refund_order_id}"
    # Sent again with the same number: the same refund, in its current state (never a second one).
    again = await r.provider.refund(refund)
    assert (again.state, again.failure_reason) == (state, reason) and len(r.fake.refunds) == 1


async def test_an_unknown_refund_is_refund_not_found_and_a_refund_of_another_order_a_provider_error():
    r = rig()
    order = r.order()
    await r.provider.open_payment(order)
    r.fake.pay(order.order_id)
    await r.provider.refund(refund_of(order, 100))

    with pytest.raises(RefundNotFoundError):
        await r.provider.query_refund("R20260301NEVERSENT", order.order_id)
    with pytest.raises(ProviderError, match="another refund"):
        await r.provider.query_refund("R20260301K3M9Q2", "S20260301SOMEOTHER")


# ---------------------------------------------------------------------- errors
def answer(status: int, document: dict | None):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=document) if document is not None else httpx.Response(status)
    return handler


@pytest.mark.parametrize(("status", "code", "unavailable"), [
    (400, "PARAM_ERROR", False), (400, "INVALID_REQUEST", False), (401, "SIGN_ERROR", False),
    (403, "NO_AUTH", False), (403, "OUT_TRADE_NO_USED", False), (429, "RATELIMIT_EXCEEDED", True),
    (429, "FREQUENCY_LIMITED", True), (500, "SYSTEM_ERROR", True), (502, "SERVICE_UNAVAILABLE", True),
    (503, "SERVICE_UNAVAILABLE", True), (400, "SYSTEM_ERROR", True), (202, None, True)])
async def test_wechat_error_answers_map_to_the_ports_errors(status, code, unavailable):
    r = rig()
    r.rewrite = lambda request, response: answer(status, {"code": code, "message": "…"} if code else None)(request)

    with pytest.raises(ProviderError) as raised:
        await r.provider.open_payment(r.order())

    assert isinstance(raised.value, ProviderUnavailableError) is unavailable, raised.value
    if code:
        assert code in str(raised.value)


@pytest.mark.parametrize("error", [httpx.ConnectError("refused"), httpx.ConnectTimeout("slow"),
                                   httpx.ReadTimeout("slow"), httpx.RemoteProtocolError("hung up"),
                                   httpx.ReadError("reset")])
async def test_transport_failures_are_provider_unavailable_and_nothing_from_httpx_escapes(error):
    r = rig()
    r.fake.fail_with(error)

    for call in (r.provider.open_payment(r.order()), r.provider.query_payment("S20260301A1B2C3D4"),
                 r.provider.close_payment("S20260301A1B2C3D4"),
                 r.provider.refund(refund_of(r.order(), 100)),
                 r.provider.query_refund("R20260301K3M9Q2", "S20260301A1B2C3D4")):
        with pytest.raises(ProviderUnavailableError) as raised:
            await call
        assert raised.value.__cause__ is None and raised.value.__suppress_context__  # raised `from None`


# ---------------------------------------------------------------------- no unverified answer is believed
def tampered(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    body = response.content.replace(b"weixin://wxpay/bizpayurl?pr=", b"weixin://wxpay/bizpayurl?pr=EVIL")
    return httpx.Response(response.status_code, content=body, headers=response.headers)


def unsigned(request: httpx.Request, response: httpx.Response) -> httpx.Response:
    headers = {k: v for k, v in response.headers.items() if not k.lower().startswith("wechatpay-")}
    return httpx.Response(response.status_code, content=response.content, headers=headers)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("change", ["tampered", "unsigned", "foreign key", "stale", "unknown serial",
                                    "other signature type"])
async def test_a_2xx_answer_that_does_not_verify_is_not_believed(mode, change):
    r = rig(mode)
    if mode == "certificate":
        await r.provider.query_payment("S20260301WARMUP01")  # holds the platform certificate already
    rewrites = {
        "tampered": tampered,
        "unsigned": unsigned,
        "foreign key": lambda q, a: httpx.Response(a.status_code, content=a.content, headers={
            **a.headers, **r.fake.sign(a.content, key=new_key(), serial=r.fake.serial)}),
        "stale": lambda q, a: httpx.Response(a.status_code, content=a.content, headers={
            **a.headers, **r.fake.sign(a.content, at=int(r.clock.now().timestamp()) - 301)}),
        "unknown serial": lambda q, a: httpx.Response(a.status_code, content=a.content, headers={
            **a.headers, **r.fake.sign(a.content, serial="PUB_KEY_ID_0119999999999999")}),
        "other signature type": lambda q, a: httpx.Response(a.status_code, content=a.content, headers={
            **a.headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}),
    }
    r.rewrite = lambda request, response: (rewrites[change](request, response)
                                           if request.url.path != "/v3/certificates" else response)

    with pytest.raises(ProviderUnavailableError, match="signed|signature|stale"):
        await r.provider.open_payment(r.order())


async def test_an_error_answer_with_a_signature_that_does_not_verify_is_not_believed():
    r = rig()
    order = r.order()
    r.rewrite = lambda request, response: httpx.Response(response.status_code, content=response.content.replace(
        b"ORDER_NOT_EXIST", b"ORDER_NOT_EXIST "), headers=response.headers)

    with pytest.raises(ProviderUnavailableError, match="signature"):
        await r.provider.query_payment(order.order_id)  # a forged ORDER_NOT_EXIST is not "pending"
    r.rewrite = None
    assert (await r.provider.query_payment(order.order_id)).state is PaymentState.PENDING


async def test_an_unsigned_error_answer_is_taken_for_its_code_only():
    r = rig()
    r.rewrite = unsigned

    assert (await r.provider.query_payment("S20260301UNKNOWN01")).state is PaymentState.PENDING
    with pytest.raises(RefundNotFoundError):
        await r.provider.query_refund("R20260301UNKNOWN1", "S20260301UNKNOWN01")


# ---------------------------------------------------------------------- bodies on the wire
async def test_the_signature_covers_the_exact_bytes_sent_so_wechat_accepts_non_ascii_bodies():
    r = rig()

    await r.provider.open_payment(r.order(description="会员 10 次"))

    sent = r.fake.requests[-1]
    assert sent.body == json.dumps(sent.json(), ensure_ascii=False, separators=(",", ":")).encode()
    assert "会员".encode() in sent.body  # not \\u-escaped: the fake verified the signature over these bytes

