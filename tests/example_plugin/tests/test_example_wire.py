"""The example plugin's wire format, pinned with respx independently of its own fake remote (amounts
as decimal strings, our ids as ExamplePay's keys, the signature recomputed here by hand), and its
discovery and routing by the service's plugin loader."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import respx

import plugins
from domain.catalog import PAYMENT_METHODS
from domain.errors import DomainValidationError, InvalidSignatureError, ProviderError, ProviderUnavailableError
from domain.money import CNY, JPY, Money
from entrypoints.config import load_config
from ports.payment_provider import PaymentOrder, PaymentState, ProviderEventKind, ProviderRegistry, RefundOrder
from example_support import SETTINGS, Clock, require_example_plugin

API = SETTINGS["PAYMENTS_EXAMPLE_API_URL"]
SECRET = SETTINGS["PAYMENTS_EXAMPLE_WEBHOOK_SECRET"]
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)
UNUSED = httpx.MockTransport(lambda request: httpx.Response(500))


@pytest.fixture(autouse=True)
def _installed() -> None:
    require_example_plugin()


@pytest.fixture
def router():
    router = respx.Router(base_url=API, assert_all_called=True)
    yield router
    router.assert_all_called()


@pytest.fixture
def provider(router):
    http = httpx.AsyncClient(transport=httpx.MockTransport(router.handler))
    return plugins.discover(["example"], SETTINGS, http=http, clock=Clock(NOW))["example"]


def an_order(**changes) -> PaymentOrder:
    fields = dict(order_id="C20260301abcDEF123", session_id="ps_1", amount=Money(1700, CNY), description="10 receives",
                  payment_method="alipay", expires_at=NOW + timedelta(hours=1),
                  notify_url="https://payments.test/api/v1/payments/webhooks/example", return_url=None)
    return PaymentOrder(**{**fields, **changes})


def order_json(status: str = "open", **changes) -> dict:
    return {"id": "exo_1", "out_trade_no": "C20260301abcDEF123", "status": status,
            "amount": {"value": "17.00", "currency": "CNY"}, "checkout_url": "https://pay.examplepay.test/checkout/exo_1",
            "qr_payload": "examplepay://pay?order=exo_1", "paid_at": None, **changes}


# ---------------------------------------------------------------------- requests
async def test_open_payment_sends_our_order_id_as_out_trade_no_and_the_amount_as_a_yuan_string(router, provider):
    route = router.post("/orders").respond(200, json=order_json())

    instructions = await provider.open_payment(an_order())

    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer sk_test_conformance"
    assert json.loads(request.content) == {
        "merchant_id": "M100200300", "out_trade_no": "C20260301abcDEF123", "method": "alipay",
        "amount": {"value": "17.00", "currency": "CNY"}, "description": "10 receives",
        "expires_at": "2026-03-01T13:00:00Z", "notify_url": "https://payments.test/api/v1/payments/webhooks/example",
        "return_url": None}
    assert (instructions.payment_url, instructions.qr_code, instructions.provider_reference) == (
        "https://pay.examplepay.test/checkout/exo_1", "examplepay://pay?order=exo_1", "exo_1")


async def test_refund_sends_our_refund_id_as_out_refund_no_and_reads_a_pending_refund(router, provider):
    route = router.post("/refunds").respond(200, json={"id": "exr_1", "out_refund_no": "R1", "out_trade_no": "C1",
                                                       "status": "pending", "amount": {"value": "0.05", "currency": "CNY"}})

    result = await provider.refund(RefundOrder("R20260301xyz", "C20260301abcDEF123", Money(5, CNY), Money(1700, CNY),
                                               "requested_by_customer"))

    body = json.loads(route.calls.last.request.content)
    assert (body["out_refund_no"], body["out_trade_no"], body["amount"]) == (
        "R20260301xyz", "C20260301abcDEF123", {"value": "0.05", "currency": "CNY"})
    assert (result.refund_order_id, result.state.value, result.provider_reference) == ("R20260301xyz", "pending", "exr_1")


async def test_a_paid_order_queries_with_its_amount_and_payment_time(router, provider):
    router.get("/orders/C20260301abcDEF123").respond(200, json=order_json("paid", paid_at=1772366400))

    status = await provider.query_payment("C20260301abcDEF123")

    assert (status.state, status.amount, status.paid_at) == (
        PaymentState.SUCCEEDED, Money(1700, CNY), datetime(2026, 3, 1, 12, tzinfo=timezone.utc))


async def test_an_answer_missing_its_fields_is_a_provider_error(router, provider):
    router.get("/orders/C20260301abcDEF123").respond(200, json={"id": "exo_1"})
    router.post("/orders").respond(200, text="<html>maintenance</html>")

    with pytest.raises(ProviderError, match="unreadable order"):
        await provider.query_payment("C20260301abcDEF123")
    with pytest.raises(ProviderError, match="without JSON"):
        await provider.open_payment(an_order())


async def test_rate_limiting_is_provider_unavailable(router, provider):
    router.get("/orders/C20260301abcDEF123").respond(429, json={"error": {"code": "rate_limited", "message": "Slow down."}})

    with pytest.raises(ProviderUnavailableError):
        await provider.query_payment("C20260301abcDEF123")


# ---------------------------------------------------------------------- amounts
@pytest.mark.parametrize(("money", "wire_value"), [
    (Money(1, CNY), "0.01"), (Money(1700, CNY), "17.00"), (Money(123456789, CNY), "1234567.89"), (Money(1700, JPY), "1700"),
])
def test_amounts_go_on_the_wire_as_exact_decimal_strings_and_come_back_unchanged(money, wire_value):
    from payments_example_provider import wire

    assert wire.amount_to_wire(money) == {"value": wire_value, "currency": money.currency.code}
    assert wire.amount_from_wire(wire.amount_to_wire(money)) == money


@pytest.mark.parametrize("value", ["17", "17.0", "17.001", "+17.00", "-1.00", "1e3", 17.0, 1700])
def test_amounts_not_in_examplepays_exact_format_are_refused(value):
    from payments_example_provider import wire

    with pytest.raises((ValueError, TypeError, DomainValidationError)):
        wire.amount_from_wire({"value": value, "currency": "CNY"})


# ---------------------------------------------------------------------- notifications
def signed_by_hand(event: dict, timestamp: int, secret: str = SECRET) -> tuple[dict, bytes]:
    """A notification signed here, from the documented format, not with the plugin's own code."""
    body = json.dumps(event).encode()
    mac = hmac.new(secret.encode(), f"{timestamp}\n".encode() + body, hashlib.sha256).digest()
    return {"ExamplePay-Timestamp": str(timestamp), "ExamplePay-Signature": "hmac-sha256=" + base64.b64encode(mac).decode()}, body


def test_a_notification_signed_as_documented_is_verified_and_translated(provider):
    headers, body = signed_by_hand({"event_id": "evt_1", "type": "order.paid", "created_at": 1772366400,
                                    "merchant_id": "M100200300", "out_trade_no": "C20260301abcDEF123",
                                    "amount": {"value": "17.00", "currency": "CNY"}}, int(NOW.timestamp()))

    event = provider.parse_notification(headers, body)

    assert (event.event_id, event.kind, event.order_id, event.amount, event.merchant_id, event.occurred_at) == (
        "evt_1", ProviderEventKind.PAYMENT_SUCCEEDED, "C20260301abcDEF123", Money(1700, CNY), "M100200300", NOW)


def test_an_authentic_notification_of_a_type_the_plugin_does_not_know_is_ignored_not_refused(provider):
    headers, body = signed_by_hand({"event_id": "evt_2", "type": "order.disputed", "created_at": 1772366400,
                                    "merchant_id": "M100200300", "out_trade_no": "C20260301abcDEF123",
                                    "amount": {"value": "17.00", "currency": "CNY"}}, int(NOW.timestamp()))

    assert provider.parse_notification(headers, body).kind is ProviderEventKind.IGNORED


def test_a_timestamp_that_is_not_a_plain_unix_time_is_refused(provider):
    event = {"event_id": "evt_3", "type": "order.paid", "created_at": 1, "merchant_id": "M100200300",
             "out_trade_no": "C1", "amount": {"value": "17.00", "currency": "CNY"}}
    headers, body = signed_by_hand(event, int(NOW.timestamp()))

    for timestamp in ("9" * 5000, "\u0661\u0667\u0667", "-1", "1.5e9", ""):
        with pytest.raises(InvalidSignatureError):
            provider.parse_notification({**headers, "ExamplePay-Timestamp": timestamp}, body)


# ---------------------------------------------------------------------- discovery and routing
def test_it_is_discovered_by_its_entry_point_and_routes_the_alipay_method(provider):
    registry = ProviderRegistry({"example": provider}, load_config({"PAYMENTS_METHOD_ROUTES": "alipay=example"}).method_routes,
                                PAYMENT_METHODS)

    assert type(provider).__module__ == "payments_example_provider.provider"
    assert registry.for_method("alipay") is provider
    assert provider.merchant_id == "M100200300"


@pytest.mark.parametrize(("setting", "value", "reason"), [
    ("PAYMENTS_EXAMPLE_WEBHOOK_SECRET", "", "PAYMENTS_EXAMPLE_WEBHOOK_SECRET is not set"),
    ("PAYMENTS_EXAMPLE_API_KEY", " ", "PAYMENTS_EXAMPLE_API_KEY is not set"),
    ("PAYMENTS_EXAMPLE_API_URL", "ftp://api.examplepay.test", "must be an http(s) URL"),
])
def test_a_missing_or_bad_setting_stops_discovery_with_its_name(setting, value, reason):
    with pytest.raises(plugins.PluginLoadError, match=r"payment provider 'example' failed to load: .*" + re.escape(reason)):
        plugins.discover(["example"], {**SETTINGS, setting: value}, http=httpx.AsyncClient(transport=UNUSED),
                         clock=Clock(NOW))
