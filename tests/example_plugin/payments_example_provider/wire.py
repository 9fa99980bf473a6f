"""ExamplePay's wire formats: amounts, notification signatures and notification bodies.

Amounts travel as `{"value": "17.00", "currency": "CNY"}`: a decimal string in major units with
exactly the currency's number of decimals. `Money` (integer minor units) is converted here and
nowhere else, with integer arithmetic only.

Notifications are JSON, signed over the raw bytes:
    ExamplePay-Timestamp: <unix seconds>
    ExamplePay-Signature: hmac-sha256=<base64 of HMAC-SHA256(webhook secret, b"<timestamp>\\n" + raw body)>
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

from domain.money import Money

TIMESTAMP_HEADER = "ExamplePay-Timestamp"
SIGNATURE_HEADER = "ExamplePay-Signature"
SIGNATURE_SCHEME = "hmac-sha256"
TOLERANCE_SECONDS = 300

# Notification types and what they say about the order (or refund) they name.
ORDER_PAID = "order.paid"
ORDER_FAILED = "order.failed"
ORDER_CLOSED = "order.closed"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_FAILED = "refund.failed"


def amount_to_wire(money: Money) -> dict[str, str]:
    exponent = money.currency.minor_unit
    if money.amount < 0:
        raise ValueError("ExamplePay amounts are positive")
    units, minor = divmod(money.amount, 10**exponent)
    return {"value": f"{units}.{minor:0{exponent}d}" if exponent else str(units), "currency": money.currency.code}


def amount_from_wire(data: Any) -> Money:
    """Raises `ValueError`/`TypeError`/`KeyError` (or the domain's validation error) for anything
    that is not exactly such an amount."""
    value, code = data["value"], data["currency"]
    if not isinstance(value, str) or not isinstance(code, str):
        raise TypeError("amount value and currency are strings")
    money = Money.parse(value, code)
    if amount_to_wire(money)["value"] != value:  # "17", "17.0" or "+17.00" are not ExamplePay's format
        raise ValueError(f"malformed amount {value!r}")
    return money


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The `ExamplePay-Signature` value of `body` sent at `timestamp`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"\n" + body, hashlib.sha256).digest()
    return f"{SIGNATURE_SCHEME}={base64.b64encode(mac).decode()}"


def notification(secret: str, timestamp: int, event_type: str, *, merchant_id: str, out_trade_no: str,
                 amount: Money, out_refund_no: str | None = None, event_id: str | None = None,
                 ) -> tuple[dict[str, str], bytes]:
    """A signed notification as ExamplePay POSTs it: (headers, raw body)."""
    event: dict[str, Any] = {"event_id": event_id or f"evt_{secrets.token_hex(12)}", "type": event_type,
                             "created_at": timestamp, "merchant_id": merchant_id, "out_trade_no": out_trade_no,
                             "amount": amount_to_wire(amount)}
    if out_refund_no is not None:
        event["out_refund_no"] = out_refund_no
    body = json.dumps(event, separators=(",", ":")).encode()
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body),
            "Content-Type": "application/json"}, body
