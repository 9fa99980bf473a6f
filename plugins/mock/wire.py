"""The mock provider's notifications on the wire: their body, their signature, and reading them.

As the contract's mock section says: a notification is JSON
`{"id": "evt_…", "type": "payment.succeeded" | "payment.failed", "session_id", "order_id",
"amount": <integer minor units>, "currency": "CNY", "created": <unix seconds>}`, signed like Stripe's:

    Mock-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the webhook secret>

and refused when `t` is more than 300 s from now (exactly 300 s is accepted). A re-delivery is the
same body signed again at its own time, so its `id` (the event id) is unchanged.

Refund notifications (this service's extension of the mock) have `"type": "refund.succeeded" |
"refund.failed"`, the paid order's `order_id` and `session_id`, `"refund_order_id"` (our refund
number), the refund's `amount`, and `"failure_reason"` when it failed. Each settlement of a refund
has its own `id` (a retried refund's second outcome is not a duplicate of its first).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping

from domain.errors import DomainValidationError, InvalidSignatureError
from domain.money import Currency, Money
from ports.payment_provider import FRESHNESS_SECONDS, PaymentOrder, ProviderEvent, ProviderEventKind

SIGNATURE_HEADER = "Mock-Signature"
TOLERANCE_SECONDS = FRESHNESS_SECONDS
PAYMENT_SUCCEEDED = "payment.succeeded"
PAYMENT_FAILED = "payment.failed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"
_EVENT_KINDS = {PAYMENT_SUCCEEDED: ProviderEventKind.PAYMENT_SUCCEEDED, PAYMENT_FAILED: ProviderEventKind.PAYMENT_FAILED,
                REFUND_SUCCEEDED: ProviderEventKind.REFUND_SUCCEEDED, REFUND_FAILED: ProviderEventKind.REFUND_FAILED}
_REFUND_KINDS = (ProviderEventKind.REFUND_SUCCEEDED, ProviderEventKind.REFUND_FAILED)


def body(order: PaymentOrder, succeeded: bool, created: int, *, event_id: str | None = None) -> bytes:
    """The raw body of a notification about `order`, its amount as it is (tests change it)."""
    return json.dumps({
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "type": PAYMENT_SUCCEEDED if succeeded else PAYMENT_FAILED,
        "session_id": order.session_id, "order_id": order.order_id,
        "amount": order.amount.amount, "currency": order.amount.currency.code, "created": created,
    }, separators=(",", ":")).encode()


def refund_body(order: PaymentOrder, refund_order_id: str, amount: int, succeeded: bool, created: int, *,
                failure_reason: str | None = None, event_id: str | None = None) -> bytes:
    """The raw body of a notification that refund `refund_order_id` (`amount` minor units of
    `order`'s currency) of the paid `order` settled."""
    return json.dumps({
        "id": event_id or f"evt_{secrets.token_hex(12)}",
        "type": REFUND_SUCCEEDED if succeeded else REFUND_FAILED,
        "session_id": order.session_id, "order_id": order.order_id, "refund_order_id": refund_order_id,
        "amount": amount, "currency": order.amount.currency.code, "created": created,
        **({} if succeeded else {"failure_reason": failure_reason or "refund_failed"}),
    }, separators=(",", ":")).encode()


def signature(secret: bytes, raw: bytes, timestamp: int) -> str:
    """The `Mock-Signature` value of `raw` sent at `timestamp`."""
    mac = hmac.new(secret, str(timestamp).encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def headers(secret: bytes, raw: bytes, timestamp: int) -> dict[str, str]:
    return {SIGNATURE_HEADER: signature(secret, raw, timestamp), "Content-Type": "application/json"}


def verify(secret: bytes, received: Mapping[str, str], raw: bytes, now: int) -> None:
    """Raises `InvalidSignatureError` unless `raw` carries a matching, fresh `Mock-Signature`."""
    header = _header(received, SIGNATURE_HEADER)
    if header is None:
        raise InvalidSignatureError("Mock-Signature header missing")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    timestamp_text = parts.get("t", [""])[0]
    if not (timestamp_text.isascii() and timestamp_text.isdigit() and len(timestamp_text) <= 12):
        raise InvalidSignatureError("Mock-Signature has no timestamp")
    timestamp = int(timestamp_text)
    expected = signature(secret, raw, timestamp).rsplit("v1=", 1)[1].encode()
    if not any(hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))  # non-ASCII: no match
               for candidate in parts.get("v1", [])):
        raise InvalidSignatureError("Mock-Signature does not match")
    if abs(now - timestamp) > TOLERANCE_SECONDS:
        raise InvalidSignatureError("Mock-Signature timestamp outside the tolerance")


def event(raw: bytes) -> ProviderEvent:
    """Translate an authentic notification; one we cannot read is treated like a forged one."""
    try:
        data = json.loads(raw)
        kind = _EVENT_KINDS.get(data["type"], ProviderEventKind.IGNORED)
        amount = data["amount"]
        if type(amount) is not int or not isinstance(data["id"], str) or not isinstance(data["order_id"], str):
            raise TypeError("bad field types")
        if kind in _REFUND_KINDS:
            refund_order_id, reason = data["refund_order_id"], data.get("failure_reason")
            if not isinstance(refund_order_id, str) or not (reason is None or isinstance(reason, str)):
                raise TypeError("bad refund field types")
            return ProviderEvent(
                event_id=data["id"], kind=kind, order_id=data["order_id"], amount=Money(amount, _currency(data["currency"])),
                provider_reference=f"mock_re_{refund_order_id}", refund_order_id=refund_order_id,
                failure_reason=(reason or "refund_failed") if kind is ProviderEventKind.REFUND_FAILED else None)
        return ProviderEvent(
            event_id=data["id"], kind=kind, order_id=data["order_id"],
            amount=Money(amount, _currency(data["currency"])), provider_reference=f"mock_{data['order_id']}",
            failure_reason="declined" if kind is ProviderEventKind.PAYMENT_FAILED else None,
        )
    except (ValueError, KeyError, TypeError, DomainValidationError) as error:  # refuse rather than guess
        raise InvalidSignatureError(f"unreadable notification: {error}") from None


def _currency(code: object) -> Currency:
    """The notification's currency. A code this service does not know is still readable: it
    matches no order, so the notification is an anomaly (acknowledged, changes nothing), not a
    forgery to refuse with 401, which the provider would re-send forever."""
    if not isinstance(code, str) or not code:
        raise TypeError("bad currency")
    try:
        return Currency.of(code)
    except DomainValidationError:
        return Currency(code, 0)  # its minor unit is unknown and irrelevant: it only has to differ


def _header(received: Mapping[str, str], name: str) -> str | None:
    lowered = name.lower()
    return next((v for k, v in received.items() if k.lower() == lowered), None)
