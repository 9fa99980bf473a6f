"""FakePay: a small provider plugin written for the kit's own tests, healthy by default, with
switchable bugs (`FakePay(bugs={...})`), each the kind of mistake one check of the kit exists to
catch. Its protocol: amounts as major-unit decimal strings (`{"value": "17.00", "currency": "CNY"}`),
notifications signed `Fake-Signature: hex HMAC-SHA256(secret, "<Fake-Timestamp>.<raw body>")`.

`FakeHarness` writes FakePay's notifications from that description, independently of the plugin."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from decimal import Decimal

from aiohttp import web

from adapters.clock import FixedClock
from domain.errors import DomainValidationError, InvalidSignatureError, ProviderError, RefundNotFoundError
from domain.money import Currency, Money
from plugins.conformance import BaseHarness, Notification
from ports.payment_provider import (
    Acknowledgement,
    Flow,
    MethodCapability,
    NotificationOutcome,
    PaymentInstructions,
    PaymentOrder,
    PaymentState,
    PaymentStatus,
    ProviderCapabilities,
    ProviderEvent,
    ProviderEventKind,
    RefundOrder,
    RefundResult,
    RefundState,
)

SECRET = "fakepay-secret"
BUGS = frozenset({
    "ack_rejected_403", "ack_retry_200", "ack_bad_content_type", "event_id_from_signature", "event_id_from_order",
    "float_arithmetic", "lenient_amount", "coerce_currency", "unknown_currency_crash", "unsigned_timestamp",
    "tolerance_exclusive", "tolerance_loose", "unknown_refund_pending", "unknown_refund_plain_error", "pages_under_api",
    "requires_newer_port",
})
_KINDS = {"order.paid": ProviderEventKind.PAYMENT_SUCCEEDED, "order.failed": ProviderEventKind.PAYMENT_FAILED,
          "refund.succeeded": ProviderEventKind.REFUND_SUCCEEDED, "refund.failed": ProviderEventKind.REFUND_FAILED}


class FakePay:
    name = "fakepay"
    merchant_id = None
    capabilities = ProviderCapabilities(methods=(MethodCapability("mock", "Mock", (Flow.REDIRECT,)),),
                                        currencies=("CNY",))

    def __init__(self, clock: FixedClock, bugs: frozenset[str] = frozenset(),
                 content_type: str = "application/json") -> None:
        assert bugs <= BUGS, bugs - BUGS
        self.bugs = bugs
        self._clock = clock
        self._content_type = content_type
        self._orders: dict[str, list] = {}  # order_id → [order, state, refunded]
        self._refunds: dict[str, RefundOrder] = {}
        if "requires_newer_port" in bugs:
            self.requires_port = (1, 9)
        if "unknown_refund_plain_error" in bugs:
            self.requires_port = (1, 1)

    # ------------------------------------------------------------------ orders and refunds
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        self._orders.setdefault(order.order_id, [order, PaymentState.PENDING, 0])
        return PaymentInstructions(f"https://fakepay.test/pay/{order.order_id}", None, f"fp_{order.order_id}")

    async def query_payment(self, order_id: str) -> PaymentStatus:
        found = self._orders.get(order_id)
        if found is None:
            return PaymentStatus(order_id, PaymentState.PENDING)
        return PaymentStatus(order_id, found[1], found[0].amount, f"fp_{order_id}")

    async def close_payment(self, order_id: str) -> None:
        found = self._orders.get(order_id)
        if found is not None and found[1] is PaymentState.SUCCEEDED:
            raise ProviderError("paid")
        if found is not None:
            found[1] = PaymentState.CLOSED

    async def refund(self, refund: RefundOrder) -> RefundResult:
        found = self._orders.get(refund.payment_order_id)
        if found is None or found[1] is not PaymentState.SUCCEEDED:
            raise ProviderError("not paid")
        if refund.refund_order_id not in self._refunds:
            if found[2] + refund.amount.amount > found[0].amount.amount:
                raise ProviderError("exceeds the payment")
            found[2] += refund.amount.amount
            self._refunds[refund.refund_order_id] = refund
        return RefundResult(refund.refund_order_id, RefundState.PENDING, f"fpr_{refund.refund_order_id}")

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        if refund_order_id in self._refunds:
            return RefundResult(refund_order_id, RefundState.PENDING)
        if "unknown_refund_pending" in self.bugs:
            return RefundResult(refund_order_id, RefundState.PENDING)
        if "unknown_refund_plain_error" in self.bugs:
            raise ProviderError("refund_not_found")  # as a port 1.0 plugin may, but this one declares 1.1
        raise RefundNotFoundError(refund_order_id)

    def pay(self, order_id: str) -> None:
        self._orders[order_id][1] = PaymentState.SUCCEEDED

    # ------------------------------------------------------------------ notifications
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        lowered = {k.lower(): v for k, v in headers.items()}
        timestamp, signature = lowered.get("fake-timestamp", ""), lowered.get("fake-signature", "")
        if not (timestamp.isascii() and timestamp.isdigit()) or not signature:
            raise InvalidSignatureError("unsigned")
        signed = body if "unsigned_timestamp" in self.bugs else timestamp.encode() + b"." + body
        expected = hmac.new(SECRET.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise InvalidSignatureError("bad signature")
        age = abs(self._clock.now().timestamp() - int(timestamp))
        if age > (301 if "tolerance_loose" in self.bugs else 300) or ("tolerance_exclusive" in self.bugs and age >= 300):
            raise InvalidSignatureError("stale")
        try:
            data = json.loads(body)
            amount = self._amount(data["amount"])
            event_id = data["id"]
            if "event_id_from_signature" in self.bugs:
                event_id = signature[:24]
            if "event_id_from_order" in self.bugs:
                event_id = f"evt_{data['order_id']}"
            return ProviderEvent(event_id=event_id, kind=_KINDS[data["type"]], order_id=data["order_id"],
                                 amount=amount, refund_order_id=data.get("refund_id"))
        except (ValueError, KeyError, TypeError, ArithmeticError) as error:
            raise InvalidSignatureError(f"unreadable: {error!r}") from None
        except DomainValidationError as error:
            if "unknown_currency_crash" in self.bugs:
                raise
            raise InvalidSignatureError(f"unreadable: {error!r}") from None

    def _amount(self, data: dict) -> Money:
        value, code = data["value"], data["currency"]
        if "coerce_currency" in self.bugs:
            code = "CNY"
        if "float_arithmetic" in self.bugs:
            return Money(int(float(value) * 100), Currency.of(code))
        if "lenient_amount" in self.bugs:
            return Money(int((Decimal(str(value)) * 100).to_integral_value()), Currency.of(code))
        if not isinstance(value, str):
            raise TypeError("the amount is a string")
        return Money.parse(value, code)

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        content_type = "json" if "ack_bad_content_type" in self.bugs else self._content_type
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, content_type, b'{"ok":true}')
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(403 if "ack_rejected_403" in self.bugs else 401, content_type, b'{"ok":false}')
        return Acknowledgement(200 if "ack_retry_200" in self.bugs else 500, content_type, b'{"retry":true}')

    def web_routes(self) -> list[web.RouteDef]:
        async def page(request: web.Request) -> web.Response:
            return web.Response(text="FakePay")

        return [web.get("/api/v1/fakepay" if "pages_under_api" in self.bugs else "/fakepay/{id}", page)]


class FakeHarness(BaseHarness):
    def __init__(self, bugs: frozenset[str] = frozenset(), **options: str) -> None:
        self.clock = FixedClock(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        self.provider = FakePay(self.clock, bugs, **options)
        self._signs_time = "unsigned_timestamp" not in bugs

    def _notification(self, event: dict, *, age_seconds: int = 0, secret: str = SECRET) -> Notification:
        body = json.dumps(event, separators=(",", ":")).encode()
        return self._sign(body, age_seconds, secret), body

    def _sign(self, body: bytes, age_seconds: int = 0, secret: str = SECRET) -> dict[str, str]:
        timestamp = str(int((self.clock.now() - timedelta(seconds=age_seconds)).timestamp()))
        signed = (timestamp.encode() + b"." if self._signs_time else b"") + body
        return {"Fake-Timestamp": timestamp, "Fake-Signature": hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}

    @staticmethod
    def _event(kind: str, order: PaymentOrder, **extra: str) -> dict:
        units, minor = divmod(order.amount.amount, 10**order.amount.currency.minor_unit)
        value = f"{units}.{minor:0{order.amount.currency.minor_unit}d}" if order.amount.currency.minor_unit else str(units)
        return {"id": f"evt_{secrets.token_hex(8)}", "type": kind, "order_id": order.order_id,
                "amount": {"value": value, "currency": order.amount.currency.code}, **extra}

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        return self._notification(self._event("order.paid" if succeeded else "order.failed", order))

    def signed_refund_notification(self, order: PaymentOrder, refund_order_id: str, *,
                                   succeeded: bool = True) -> Notification:
        kind = "refund.succeeded" if succeeded else "refund.failed"
        return self._notification(self._event(kind, order, refund_id=refund_order_id))

    def forged_notification(self, order: PaymentOrder) -> Notification:
        return self._notification(self._event("order.paid", order), secret="not-" + SECRET)

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = 301) -> Notification:
        return self._notification(self._event("order.paid", order), age_seconds=age_seconds)

    def sign_body(self, body: bytes, *, age_seconds: int = 0) -> dict[str, str]:
        return self._sign(body, age_seconds)

    def pay_remotely(self, order_id: str) -> None:
        self.provider.pay(order_id)
