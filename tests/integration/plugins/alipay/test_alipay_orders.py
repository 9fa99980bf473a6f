"""The Alipay plugin's calls on the wire, against the fake gateway (and hand-made answers where a
case needs one): what each request carries, the flows, Beijing times and yuan amounts, the trade
states, close and refund semantics, and how Alipay's answers map to the port's errors."""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

import plugins
from alipay_fake_gateway import GATEWAY, TestKeys, private_pem, signed_response
from alipay_harness import AlipayHarness
from domain.errors import ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.money import CNY, JPY, Money
from plugins.alipay.gateway import AlipayRefusal
from ports.payment_provider import Flow, PaymentState, RefundOrder, RefundState


@pytest.fixture
def h() -> AlipayHarness:
    return AlipayHarness()


def refund_of(order, amount: int, number: str = "R2026030100001", reason: str = "bought by mistake") -> RefundOrder:
    return RefundOrder(number, order.order_id, Money(amount, CNY), order.amount, reason)


# ---------------------------------------------------------------------- requests and flows
async def test_a_qr_order_is_precreated_with_yuan_beijing_times_and_our_notify_url(h):
    order = h.order(amount=Money(1729, CNY), expires_at=h.clock.now() + timedelta(minutes=15))

    instructions = await h.provider.open_payment(order)

    call = h.gateway.calls[-1]
    biz = json.loads(call["biz_content"])
    assert (call["method"], call["timestamp"], call["notify_url"]) == (
        "alipay.trade.precreate", "2026-03-01 20:00:00", order.notify_url)  # 12:00 UTC is 20:00 in Beijing
    assert biz == {"out_trade_no": order.order_id, "total_amount": "17.29", "subject": "10 receives",
                   "time_expire": "2026-03-01 20:15:00"}
    assert (instructions.qr_code, instructions.payment_url) == (h.gateway.qr_code(order.order_id), None)


async def test_common_parameters_travel_in_the_query_and_biz_content_in_a_form_body():
    sent: list[httpx.Request] = []
    keys = TestKeys.generated()

    def gateway(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        answer = {"code": "10000", "msg": "Success", "out_trade_no": "x", "qr_code": "https://qr.alipay.com/bax1"}
        return httpx.Response(200, text=signed_response("alipay.trade.precreate", answer, keys.alipay))
    h = AlipayHarness()
    http = httpx.AsyncClient(transport=httpx.MockTransport(gateway))
    provider = plugins.discover(["alipay"], keys.settings(), http=http, clock=h.clock)["alipay"]

    await provider.open_payment(h.order(order_id="x"))

    request = sent[0]
    query = dict(parse_qsl(request.url.query.decode()))
    assert (request.method, str(request.url).split("?")[0]) == ("POST", GATEWAY)
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded;charset=utf-8"
    assert set(query) == {"app_id", "method", "format", "charset", "sign_type", "timestamp", "version", "notify_url",
                          "sign"}
    assert (query["format"], query["charset"], query["sign_type"], query["version"]) == ("JSON", "utf-8", "RSA2", "1.0")
    assert [key for key, _ in parse_qsl(request.content.decode())] == ["biz_content"]


@pytest.mark.parametrize(("fen", "written"), [(1, "0.01"), (29, "0.29"), (100, "1.00"), (1700, "17.00"),
                                              (123456, "1234.56"), (10000000000, "100000000.00")])
async def test_amounts_are_written_as_yuan_with_integer_arithmetic(h, fen, written):
    await h.provider.open_payment(h.order(amount=Money(fen, CNY)))

    assert json.loads(h.gateway.calls[-1]["biz_content"])["total_amount"] == written


async def test_an_order_in_another_currency_is_refused_before_anything_is_sent(h):
    with pytest.raises(ProviderError, match="CNY"):
        await h.provider.open_payment(h.order(amount=Money(1700, JPY)))
    assert h.gateway.calls == []


async def test_the_subject_leaves_out_what_alipay_refuses_in_it(h):
    await h.provider.open_payment(h.order(description="Pro / VIP = plan & more"))

    assert json.loads(h.gateway.calls[-1]["biz_content"])["subject"] == "Pro VIP plan more"


@pytest.mark.parametrize(("flow", "method", "product_code"), [
    (Flow.REDIRECT, "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    (Flow.MOBILE_REDIRECT, "alipay.trade.wap.pay", "QUICK_WAP_WAY")])
async def test_a_redirect_is_a_signed_gateway_url_with_the_return_url_and_no_server_call(h, flow, method, product_code):
    order = h.order(flow=flow)

    instructions = await h.provider.open_payment(order)

    assert h.gateway.calls == []  # nothing is sent: the payer's browser carries the signed URL
    assert instructions.qr_code is None and instructions.payment_url.startswith(GATEWAY + "?")
    params = dict(parse_qsl(urlsplit(instructions.payment_url).query))
    biz = json.loads(params["biz_content"])
    assert (params["method"], params["return_url"], params["notify_url"]) == (
        method, order.return_url, order.notify_url)
    assert (biz["product_code"], biz["out_trade_no"], biz["total_amount"], biz["time_expire"]) == (
        product_code, order.order_id, "17.00", "2026-03-01 21:00:00")
    assert ("quit_url" in biz) is (flow is Flow.MOBILE_REDIRECT)

    assert (await h.provider.query_payment(order.order_id)).state is PaymentState.PENDING  # no trade yet
    assert h.gateway.visit(instructions.payment_url) == order.order_id  # Alipay accepts the URL's signature
    h.gateway.pay(order.order_id)
    paid = await h.provider.query_payment(order.order_id)
    assert (paid.state, paid.amount) == (PaymentState.SUCCEEDED, order.amount)


async def test_a_redirect_without_a_return_url_sends_none(h):
    url = (await h.provider.open_payment(h.order(flow=Flow.REDIRECT, return_url=None))).payment_url

    assert "return_url" not in dict(parse_qsl(urlsplit(url).query))


async def test_an_order_without_a_flow_is_the_methods_first_a_qr_code(h):
    instructions = await h.provider.open_payment(h.order(flow=None))

    assert instructions.qr_code and h.gateway.calls[-1]["method"] == "alipay.trade.precreate"


async def test_the_capabilities_offer_the_three_flows_in_cny():
    capabilities = AlipayHarness().provider.capabilities

    assert [(m.id, m.flows) for m in capabilities.methods] == [
        ("alipay", (Flow.QR_CODE, Flow.REDIRECT, Flow.MOBILE_REDIRECT))]
    assert capabilities.currencies == ("CNY",)


# ---------------------------------------------------------------------- query and close
async def test_query_follows_the_trade_from_unknown_to_paid(h):
    order = h.order()
    await h.provider.open_payment(order)

    before_scan = await h.provider.query_payment(order.order_id)
    h.gateway.scan(order.order_id)
    scanned = await h.provider.query_payment(order.order_id)
    h.gateway.pay(order.order_id)
    paid = await h.provider.query_payment(order.order_id)
    h.gateway.trades[order.order_id].status = "TRADE_FINISHED"
    finished = await h.provider.query_payment(order.order_id)

    assert (before_scan.state, scanned.state) == (PaymentState.PENDING, PaymentState.PENDING)
    trade = h.gateway.trades[order.order_id]
    assert (paid.state, paid.amount, paid.provider_reference, paid.payer_id, paid.paid_at) == (
        PaymentState.SUCCEEDED, Money(1700, CNY), trade.trade_no, trade.buyer_id, h.clock.now())
    assert finished.state is PaymentState.SUCCEEDED


async def test_closing_an_order_nobody_scanned_is_nothing_to_do(h):
    order = h.order()
    await h.provider.open_payment(order)

    await h.provider.close_payment(order.order_id)

    assert h.gateway.calls[-1]["method"] == "alipay.trade.close"
    assert order.order_id not in h.gateway.trades


async def test_closing_a_scanned_order_closes_its_trade_and_a_paid_one_is_refused(h):
    unpaid, paid = h.order(), h.order()
    for order in (unpaid, paid):
        await h.provider.open_payment(order)
        h.gateway.scan(order.order_id)
    h.gateway.pay(paid.order_id)

    await h.provider.close_payment(unpaid.order_id)
    await h.provider.close_payment(unpaid.order_id)  # ACQ.TRADE_STATUS_ERROR, then found closed: fine
    with pytest.raises(ProviderError, match="paid"):
        await h.provider.close_payment(paid.order_id)

    assert (await h.provider.query_payment(unpaid.order_id)).state is PaymentState.CLOSED
    assert h.gateway.trades[paid.order_id].status == "TRADE_SUCCESS"


# ---------------------------------------------------------------------- refunds
async def test_partial_refunds_carry_our_refund_number_and_never_refund_twice(h):
    order = h.order()
    await h.provider.open_payment(order)
    h.pay_remotely(order.order_id)

    first = await h.provider.refund(refund_of(order, 500, "R1000000001"))
    again = await h.provider.refund(refund_of(order, 500, "R1000000001"))
    rest = await h.provider.refund(refund_of(order, 1200, "R1000000002"))

    call = json.loads(h.gateway.calls[-1]["biz_content"])
    assert call == {"out_trade_no": order.order_id, "refund_amount": "12.00", "out_request_no": "R1000000002",
                    "refund_reason": "bought by mistake"}
    assert (first.state, again.state, rest.state) == (RefundState.SUCCEEDED, RefundState.PENDING, RefundState.SUCCEEDED)
    assert h.gateway.trades[order.order_id].refunds == {"R1000000001": 500, "R1000000002": 1200}
    assert (await h.provider.query_refund("R1000000001", order.order_id)).state is RefundState.SUCCEEDED
    assert json.loads(h.gateway.calls[-1]["biz_content"])["query_options"] == ["gmt_refund_pay"]
    with pytest.raises(ProviderError):  # fully refunded: the trade is closed
        await h.provider.refund(refund_of(order, 1, "R1000000003"))


async def test_a_refund_alipay_never_received_is_not_found(h):
    order = h.order()
    await h.provider.open_payment(order)
    h.pay_remotely(order.order_id)

    with pytest.raises(RefundNotFoundError):
        await h.provider.query_refund("R9999999999", order.order_id)
    with pytest.raises(RefundNotFoundError):
        await h.provider.query_refund("R9999999999", "C0000000000000000000")


@pytest.mark.parametrize(("state", "sub_code"), [("unpaid", "ACQ.TRADE_STATUS_ERROR"),
                                                 ("unknown", "ACQ.TRADE_NOT_EXIST"),
                                                 ("beyond", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")])
async def test_refusals_of_a_refund_are_provider_errors_naming_alipays_sub_code(h, state, sub_code):
    order = h.order()
    await h.provider.open_payment(order)
    if state != "unknown":
        h.gateway.scan(order.order_id)
    if state == "beyond":
        h.gateway.pay(order.order_id)

    with pytest.raises(AlipayRefusal) as refused:
        await h.provider.refund(refund_of(order, 1701 if state == "beyond" else 100))

    assert refused.value.sub_code == sub_code and not isinstance(refused.value, ProviderUnavailableError)


async def test_a_refund_alipay_cannot_pay_out_fails_with_its_sub_code_and_is_made_once_sent_again(h):
    order = h.order()
    await h.provider.open_payment(order)
    h.pay_remotely(order.order_id)
    refund = refund_of(order, 500)

    h.gateway.refund_refusal = ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足")
    failed = await h.provider.refund(refund)

    assert (failed.refund_order_id, failed.state, failed.failure_reason) == (
        refund.refund_order_id, RefundState.FAILED, "ACQ.SELLER_BALANCE_NOT_ENOUGH")  # the code, never sub_msg
    assert h.gateway.trades[order.order_id].refunds == {}
    with pytest.raises(RefundNotFoundError):  # the query names no failed state: nothing was made
        await h.provider.query_refund(refund.refund_order_id, order.order_id)

    h.gateway.refund_refusal = None  # the merchant topped up: the same out_request_no is made once
    made = await h.provider.refund(refund)
    assert (made.state, made.failure_reason) == (RefundState.SUCCEEDED, None)
    assert h.gateway.trades[order.order_id].refunds == {refund.refund_order_id: 500}


# ---------------------------------------------------------------------- answers and errors
def answering(payload: dict, *, method: str = "alipay.trade.query", key=None, raw: str | None = None,
              status: int = 200) -> AlipayHarness:
    keys = TestKeys.generated()
    text = raw if raw is not None else signed_response(method, payload, key or keys.alipay)
    h = AlipayHarness()
    transport = httpx.MockTransport(lambda request: httpx.Response(status, text=text))
    h.provider = plugins.discover(["alipay"], keys.settings(), http=httpx.AsyncClient(transport=transport),
                                  clock=h.clock)["alipay"]
    return h


def failure(code: str, sub_code: str) -> dict:
    return {"code": code, "msg": "failed", "sub_code": sub_code, "sub_msg": "…"}


@pytest.mark.parametrize("payload", [failure("40004", "ACQ.SYSTEM_ERROR"), failure("20000", "isp.unknow-error"),
                                     failure("40004", "aop.ACQ.SYSTEM_ERROR")])
async def test_alipays_system_errors_are_unavailable_the_outcome_unknown(payload):
    with pytest.raises(ProviderUnavailableError):
        await answering(payload).provider.query_payment("C2026030100001")


@pytest.mark.parametrize(("payload", "call"), [
    (failure("40002", "isv.invalid-signature"), "query"), (failure("40004", "ACQ.TRADE_HAS_SUCCESS"), "open"),
    (failure("40004", "ACQ.TRADE_HAS_CLOSE"), "refund"),
    (failure("40006", "isv.insufficient-isv-permissions"), "query"),
    (failure("20001", "aop.invalid-auth-token"), "query")])
async def test_alipays_refusals_are_provider_errors_whose_outcome_is_known(payload, call):
    method = {"query": "alipay.trade.query", "open": "alipay.trade.precreate", "refund": "alipay.trade.refund"}[call]
    h = answering(payload, method=method)
    order = h.order()
    calls = {"query": lambda: h.provider.query_payment(order.order_id), "open": lambda: h.provider.open_payment(order),
             "refund": lambda: h.provider.refund(refund_of(order, 100))}

    with pytest.raises(AlipayRefusal) as refused:
        await calls[call]()

    assert (refused.value.alipay_code, refused.value.sub_code) == (payload["code"], payload["sub_code"])


async def test_a_refund_of_a_frozen_trade_fails_with_alipays_sub_code():
    h = answering(failure("40004", "ACQ.REASON_TRADE_BEEN_FREEZEN"), method="alipay.trade.refund")

    result = await h.provider.refund(refund_of(h.order(), 100))

    assert (result.state, result.failure_reason) == (RefundState.FAILED, "ACQ.REASON_TRADE_BEEN_FREEZEN")


async def test_a_request_signed_with_the_wrong_key_is_refused_by_alipay_as_invalid_signature():
    wrong = AlipayHarness(PAYMENTS_ALIPAY_PRIVATE_KEY=private_pem(TestKeys.generated().stranger))

    with pytest.raises(AlipayRefusal) as refused:
        await wrong.provider.query_payment("C2026030100001")

    assert refused.value.sub_code == "isv.invalid-signature" and wrong.gateway.calls == []


@pytest.mark.parametrize("case", ["tampered", "foreign key", "unsigned", "error_response unsigned", "not json",
                                  "another node", "a list"])
async def test_an_answer_not_signed_by_alipay_is_never_taken_for_a_success(case):
    keys = TestKeys.generated()
    success = {"code": "10000", "msg": "Success", "trade_no": "2026", "out_trade_no": "C2026030100001",
               "trade_status": "TRADE_SUCCESS", "total_amount": "17.00"}
    good = signed_response("alipay.trade.query", success, keys.alipay)
    raw = {"tampered": good.replace("17.00", "0.01"),
           "foreign key": signed_response("alipay.trade.query", success, keys.stranger),
           "unsigned": json.dumps({"alipay_trade_query_response": success}),
           "error_response unsigned": json.dumps({"error_response": success}),
           "not json": "<html>gateway</html>",
           "another node": signed_response("alipay.trade.close", success, keys.alipay),
           "a list": "[]"}[case]

    with pytest.raises(ProviderError) as refused:
        await answering({}, raw=raw).provider.query_payment("C2026030100001")

    assert not isinstance(refused.value, ProviderUnavailableError)


@pytest.mark.parametrize(("status", "unavailable"), [(500, True), (502, True), (429, True), (400, False), (404, False)])
async def test_http_failures_of_the_gateway(status, unavailable):
    with pytest.raises(ProviderError) as failed:
        await answering({}, raw="oops", status=status).provider.query_payment("C2026030100001")

    assert isinstance(failed.value, ProviderUnavailableError) is unavailable


async def test_an_answer_about_another_order_is_refused():
    h = answering({"code": "10000", "msg": "Success", "out_trade_no": "C_SOMEONE_ELSE", "trade_status": "TRADE_SUCCESS",
                   "total_amount": "17.00"})

    with pytest.raises(ProviderError):
        await h.provider.query_payment("C2026030100001")
