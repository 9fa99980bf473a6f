"""ExampleProvider: the `example` plugin, a client of ExamplePay (a made-up provider shaped like
the real ones) serving the `alipay` payment method in CNY.

ExamplePay's API: JSON over HTTPS at PAYMENTS_EXAMPLE_API_URL, `Authorization: Bearer <api key>`,
amounts as `{"value": "17.00", "currency": "CNY"}` (see `wire`), errors as
`{"error": {"code", "message"}}`; 5xx and 429 mean "try later", the outcome unknown.

- `open_payment`: POST /orders {"merchant_id", "out_trade_no" (our order_id), "method", "amount",
  "description", "expires_at", "notify_url", "return_url"} → 200 order. The same out_trade_no
  again answers the same order; with other parameters, 409 `order_conflict`.
- `query_payment`: GET /orders/{out_trade_no} → 200 order; 404 `order_not_found` (PENDING to us).
- `close_payment`: POST /orders/{out_trade_no}/close → 200 order; 404 (nothing to close); 409
  `order_paid`.
- `refund`: POST /refunds {"out_refund_no" (our refund_order_id), "out_trade_no", "amount",
  "reason", "notify_url"} → 200 refund. The same out_refund_no again answers the same refund;
  409 `order_not_paid` or `refund_exceeds_payment`.
- `query_refund`: GET /refunds/{out_refund_no} → 200 refund; 404 `refund_not_found` (a
  `ProviderError`: a lost request and a refund never made look alike; send it again).

An order is `{"id", "out_trade_no", "status": "open" | "paid" | "failed" | "closed", "amount",
"checkout_url", "qr_payload", "paid_at"}`; a refund `{"id", "out_refund_no", "out_trade_no",
"status": "pending" | "succeeded" | "failed", "amount"}`. Notifications and their signature: see
`wire`. Every call goes through the injected `httpx.AsyncClient`, and every transport failure
becomes a `ProviderError`: no httpx exception leaves this module.
"""
from __future__ import annotations

import hmac
import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from domain.errors import DomainValidationError, InvalidSignatureError, ProviderError, ProviderUnavailableError
from payments_example_provider import wire
from ports.clock import Clock
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

DEFAULT_API_URL = "https://api.examplepay.test/v1"
ICON_URL = "https://static.examplepay.test/icons/alipay.svg"

CAPABILITIES = ProviderCapabilities(
    methods=(MethodCapability("alipay", "Alipay", (Flow.QR_CODE, Flow.REDIRECT), icon_url=ICON_URL),),
    currencies=("CNY",),
)
_ORDER_STATES = {"open": PaymentState.PENDING, "paid": PaymentState.SUCCEEDED, "failed": PaymentState.FAILED,
                 "closed": PaymentState.CLOSED}
_REFUND_STATES = {"pending": RefundState.PENDING, "succeeded": RefundState.SUCCEEDED, "failed": RefundState.FAILED}
_EVENT_KINDS = {wire.ORDER_PAID: ProviderEventKind.PAYMENT_SUCCEEDED, wire.ORDER_FAILED: ProviderEventKind.PAYMENT_FAILED,
                wire.ORDER_CLOSED: ProviderEventKind.PAYMENT_CLOSED,
                wire.REFUND_SUCCEEDED: ProviderEventKind.REFUND_SUCCEEDED,
                wire.REFUND_FAILED: ProviderEventKind.REFUND_FAILED}
_JSON = "application/json; charset=utf-8"


class ExampleProvider:
    """See the module docstring."""

    name = "example"

    def __init__(self, *, api_url: str, api_key: str, webhook_secret: str, merchant_id: str,
                 http: httpx.AsyncClient, clock: Clock) -> None:
        url = httpx.URL(api_url)  # raises httpx.InvalidURL: a bad setting stops start-up
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"ExamplePay API URL must be an http(s) URL, not {api_url!r}")
        self._api_url = api_url.rstrip("/")
        self._api_key = api_key
        self._webhook_secret = webhook_secret
        self._merchant_id = merchant_id
        self._http = http
        self._clock = clock

    @classmethod
    def from_settings(cls, settings: Mapping[str, str], *, http: httpx.AsyncClient, clock: Clock) -> ExampleProvider:
        """The entry point's factory. Settings: PAYMENTS_EXAMPLE_API_KEY, PAYMENTS_EXAMPLE_WEBHOOK_SECRET,
        PAYMENTS_EXAMPLE_MERCHANT_ID (all required) and PAYMENTS_EXAMPLE_API_URL (default: the live API)."""
        def required(name: str) -> str:
            value = settings.get(name, "").strip()
            if not value:
                raise ValueError(f"{name} is not set")
            return value

        try:
            return cls(api_url=settings.get("PAYMENTS_EXAMPLE_API_URL") or DEFAULT_API_URL,
                       api_key=required("PAYMENTS_EXAMPLE_API_KEY"),
                       webhook_secret=required("PAYMENTS_EXAMPLE_WEBHOOK_SECRET"),
                       merchant_id=required("PAYMENTS_EXAMPLE_MERCHANT_ID"), http=http, clock=clock)
        except httpx.InvalidURL as error:
            raise ValueError(f"PAYMENTS_EXAMPLE_API_URL is not a URL: {error}") from None

    @property
    def capabilities(self) -> ProviderCapabilities:
        return CAPABILITIES

    @property
    def merchant_id(self) -> str | None:
        return self._merchant_id

    # ------------------------------------------------------------------ orders
    async def open_payment(self, order: PaymentOrder) -> PaymentInstructions:
        status, data = await self._call("POST", "/orders", {
            "merchant_id": self._merchant_id, "out_trade_no": order.order_id, "method": order.payment_method,
            "amount": wire.amount_to_wire(order.amount), "description": order.description,
            "expires_at": _rfc3339(order.expires_at), "notify_url": order.notify_url, "return_url": order.return_url,
        })
        if status != 200:
            raise _refusal("open order", order.order_id, status, data)
        with _readable("order"):
            return PaymentInstructions(payment_url=data["checkout_url"], qr_code=data["qr_payload"],
                                       provider_reference=data["id"])

    async def query_payment(self, order_id: str) -> PaymentStatus:
        status, data = await self._call("GET", f"/orders/{quote(order_id, safe='')}")
        if status == 404 and _error_code(data) == "order_not_found":
            return PaymentStatus(order_id, PaymentState.PENDING)  # not opened there (yet)
        if status != 200:
            raise _refusal("query order", order_id, status, data)
        with _readable("order"):
            state = _ORDER_STATES[data["status"]]
            paid_at = datetime.fromtimestamp(data["paid_at"], timezone.utc) if data.get("paid_at") is not None else None
            return PaymentStatus(order_id, state, wire.amount_from_wire(data["amount"]), data["id"], paid_at=paid_at,
                                 failure_reason="declined" if state is PaymentState.FAILED else None)

    async def close_payment(self, order_id: str) -> None:
        status, data = await self._call("POST", f"/orders/{quote(order_id, safe='')}/close")
        if status == 200 or (status == 404 and _error_code(data) == "order_not_found"):
            return
        raise _refusal("close order", order_id, status, data)

    # ------------------------------------------------------------------ refunds
    async def refund(self, refund: RefundOrder) -> RefundResult:
        status, data = await self._call("POST", "/refunds", {
            "out_refund_no": refund.refund_order_id, "out_trade_no": refund.payment_order_id,
            "amount": wire.amount_to_wire(refund.amount), "reason": refund.reason, "notify_url": refund.notify_url,
        })
        if status != 200:
            raise _refusal("refund order", refund.payment_order_id, status, data)
        return _refund_result(refund.refund_order_id, data)

    async def query_refund(self, refund_order_id: str, payment_order_id: str) -> RefundResult:
        status, data = await self._call("GET", f"/refunds/{quote(refund_order_id, safe='')}")
        if status != 200:
            raise _refusal("query refund", refund_order_id, status, data)
        return _refund_result(refund_order_id, data)

    # ------------------------------------------------------------------ notifications
    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> ProviderEvent:
        timestamp_text = _header(headers, wire.TIMESTAMP_HEADER)
        signature = _header(headers, wire.SIGNATURE_HEADER)
        if not timestamp_text or not signature:
            raise InvalidSignatureError(f"{wire.TIMESTAMP_HEADER} or {wire.SIGNATURE_HEADER} missing")
        timestamp_text = timestamp_text.strip()
        if not (timestamp_text.isascii() and timestamp_text.isdigit() and len(timestamp_text) <= 12):
            raise InvalidSignatureError(f"{wire.TIMESTAMP_HEADER} is not a unix time")
        timestamp = int(timestamp_text)
        expected = wire.signature(self._webhook_secret, timestamp, body).encode()
        if not hmac.compare_digest(expected, signature.strip().encode("utf-8", "replace")):
            raise InvalidSignatureError(f"{wire.SIGNATURE_HEADER} does not match")
        if abs(self._clock.now().timestamp() - timestamp) > wire.TOLERANCE_SECONDS:
            raise InvalidSignatureError(f"{wire.TIMESTAMP_HEADER} is outside the tolerance")
        return _event(body)

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        if outcome is NotificationOutcome.ACCEPTED:
            return Acknowledgement(200, _JSON, b'{"status":"ok"}')
        if outcome is NotificationOutcome.REJECTED:
            return Acknowledgement(401, _JSON, b'{"status":"rejected","reason":"invalid_signature"}')
        return Acknowledgement(503, _JSON, b'{"status":"retry"}')

    # ------------------------------------------------------------------ transport
    async def _call(self, method: str, path: str, payload: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One request; the status and the decoded JSON answer. Transport failures, 5xx and 429
        raise `ProviderUnavailableError`; anything unreadable `ProviderError`."""
        headers = {"Authorization": f"Bearer {self._api_key}", "Accept": "application/json"}
        content = None
        if payload is not None:  # serialised once: these exact bytes are sent
            content = json.dumps(payload, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(method, self._api_url + path, content=content, headers=headers)
        except httpx.TransportError as error:  # refused, reset, timed out: the outcome is unknown
            raise ProviderUnavailableError(f"ExamplePay {method} {path}: {type(error).__name__}: {error}") from error
        except httpx.HTTPError as error:  # e.g. an answer that cannot be decoded
            raise ProviderError(f"ExamplePay {method} {path}: {type(error).__name__}: {error}") from error
        if response.status_code >= 500 or response.status_code == 429:
            raise ProviderUnavailableError(f"ExamplePay {method} {path} answered {response.status_code}")
        try:
            return response.status_code, response.json()
        except ValueError:
            raise ProviderError(f"ExamplePay {method} {path} answered {response.status_code} without JSON") from None


@contextmanager
def _readable(what: str) -> Iterator[None]:
    """Turns a malformed answer (missing or mistyped fields) into `ProviderError`."""
    try:
        yield
    except (KeyError, TypeError, ValueError, AttributeError, DomainValidationError) as error:
        raise ProviderError(f"ExamplePay sent an unreadable {what}: {error!r}") from None


def _refund_result(refund_order_id: str, data: Any) -> RefundResult:
    with _readable("refund"):
        return RefundResult(refund_order_id, _REFUND_STATES[data["status"]], data["id"])


def _error_code(data: Any) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _refusal(what: str, key: str, status: int, data: Any) -> ProviderError:
    error = data.get("error") if isinstance(data, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return ProviderError(f"ExamplePay refused to {what} {key}: HTTP {status} {_error_code(data) or ''} {message or ''}".strip())


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((value for key, value in headers.items() if key.lower() == lowered), None)


def _event(body: bytes) -> ProviderEvent:
    """Translate an authentic notification; one we cannot read is refused like a forged one."""
    try:
        data = json.loads(body)
        event_id, order_id, merchant_id = data["event_id"], data["out_trade_no"], data["merchant_id"]
        refund_order_id, created_at = data.get("out_refund_no"), data["created_at"]
        if not all(isinstance(v, str) and v for v in (event_id, order_id, merchant_id)) \
                or not (refund_order_id is None or isinstance(refund_order_id, str)) or type(created_at) is not int:
            raise TypeError("bad field types")
        kind = _EVENT_KINDS.get(data["type"], ProviderEventKind.IGNORED)
        return ProviderEvent(
            event_id=event_id, kind=kind, order_id=order_id, amount=wire.amount_from_wire(data["amount"]),
            merchant_id=merchant_id, refund_order_id=refund_order_id,
            failure_reason="declined" if kind is ProviderEventKind.PAYMENT_FAILED else None,
            occurred_at=datetime.fromtimestamp(created_at, timezone.utc),
        )
    except (ValueError, KeyError, TypeError, OverflowError, OSError, DomainValidationError) as error:
        raise InvalidSignatureError(f"unreadable ExamplePay notification: {error!r}") from None
