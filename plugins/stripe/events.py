"""Stripe webhook events (PROTOCOLS.md §4.7) and Checkout Sessions read in the port's terms.

Events, after the signature is verified (`signature`):

| event type                                    | port event                                        |
|-----------------------------------------------|---------------------------------------------------|
| `checkout.session.completed`                  | PAYMENT_SUCCEEDED when `payment_status` is `paid`; an unpaid one (a delayed method still settling) is IGNORED |
| `checkout.session.async_payment_succeeded`    | PAYMENT_SUCCEEDED                                 |
| `checkout.session.async_payment_failed`       | PAYMENT_FAILED                                    |
| `checkout.session.expired`                    | PAYMENT_CLOSED                                    |
| `refund.created`/`.updated`/`.failed`, `charge.refund.updated` | REFUND_SUCCEEDED (`succeeded`) or REFUND_FAILED (`failed`, `canceled`) for a refund we made (`metadata[refund_order_id]`); pending ones IGNORED |
| `charge.refunded`                             | as the newest refund it lists, when it lists them (else IGNORED: it does not say which refund) |
| `payment_intent.succeeded`                    | PAYMENT_SUCCEEDED for an off-session charge of ours (below), its amount and currency, payer = its customer |
| `payment_intent.payment_failed`               | PAYMENT_FAILED for an off-session charge of ours, with its decline code; IGNORED when it asked for authentication (`authentication_required`: the core has opened a session for the payer instead, whose events settle the order) |
| anything else                                 | IGNORED |

Which PaymentIntents are ours to settle: an off-session charge (`charge_saved_method`) is made with
`metadata[order_id]` alone. A Checkout Session's PaymentIntent carries `metadata[order_id]` *and*
`metadata[session_id]` (`payment_intent_data[metadata]`), and its events are IGNORED: the session's
own events settle that order (a declined card can be tried again on Stripe's page), so one payment
is never reported twice. A PaymentIntent without our order id (made elsewhere) is IGNORED too.

Amounts are Stripe's integer minor units with the currency the object names (lower case on the
wire), read exactly: a float, a string or a boolean is refused, never rounded.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from domain.errors import InvalidSignatureError
from domain.money import Currency, Money
from ports.payment_provider import (
    PaymentState,
    PaymentStatus,
    ProviderEvent,
    ProviderEventKind,
)

_KNOWN_CURRENCIES = ("CNY", "USD", "JPY")
# Stripe's zero-decimal currencies (its amounts are whole units of these), for codes the service does not know
_ZERO_DECIMAL = frozenset("BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF".split())
_SESSION_EVENTS = {
    "checkout.session.async_payment_succeeded": ProviderEventKind.PAYMENT_SUCCEEDED,
    "checkout.session.async_payment_failed": ProviderEventKind.PAYMENT_FAILED,
    "checkout.session.expired": ProviderEventKind.PAYMENT_CLOSED,
}
_INTENT_EVENTS = ("payment_intent.succeeded", "payment_intent.payment_failed")
_AUTHENTICATION_REQUIRED = "authentication_required"
_REFUND_EVENTS = ("refund.created", "refund.updated", "refund.failed", "charge.refund.updated")
_REFUND_KINDS = {"succeeded": ProviderEventKind.REFUND_SUCCEEDED, "failed": ProviderEventKind.REFUND_FAILED,
                 "canceled": ProviderEventKind.REFUND_FAILED}


def read_event(body: bytes) -> dict[str, Any]:
    """The event of an authentic body: a JSON object with an `evt_…` id, a type and `data.object`."""
    try:
        event = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidSignatureError("The Stripe event is not JSON.") from None
    if not isinstance(event, dict):
        raise InvalidSignatureError("The Stripe event is not a JSON object.")
    event_id, kind, data = event.get("id"), event.get("type"), event.get("data")
    if not (isinstance(event_id, str) and event_id.startswith("evt_") and isinstance(kind, str) and kind
            and isinstance(data, dict) and isinstance(data.get("object"), dict)):
        raise InvalidSignatureError("The Stripe event lacks its id, type or data.object.")
    return event


def to_provider_event(event: dict[str, Any], payer_ids: Mapping[str, str] | None = None) -> ProviderEvent:
    """The port's event for a verified Stripe `event`. `payer_ids` maps Checkout Session ids to a
    payer id found before parsing (the card fingerprint, see `StripeProvider.prepare_notification`)."""
    kind, obj = event["type"], event["data"]["object"]
    event_id = event["id"]
    occurred_at = unix_time(event.get("created"))
    if kind == "checkout.session.completed" or kind in _SESSION_EVENTS:
        if kind == "checkout.session.completed":
            paid = obj.get("payment_status") == "paid"
            port_kind = ProviderEventKind.PAYMENT_SUCCEEDED if paid else ProviderEventKind.IGNORED
        else:
            port_kind = _SESSION_EVENTS[kind]
        if "amount_subtotal" in obj:  # read too, so that no amount of the session is ever taken loosely
            money(obj.get("amount_subtotal"), obj.get("currency"))
        session_id = _text(obj.get("id"))
        payer_id = session_payer(obj) or (payer_ids or {}).get(session_id or "")
        return ProviderEvent(event_id=event_id, kind=port_kind, order_id=session_order_id(obj),
                             amount=money(obj.get("amount_total"), obj.get("currency")),
                             provider_reference=session_id, occurred_at=occurred_at, payer_id=payer_id,
                             failure_reason="async_payment_failed" if port_kind is ProviderEventKind.PAYMENT_FAILED
                             else None)
    if kind in _INTENT_EVENTS:
        return _intent_event(event_id, kind, obj, occurred_at)
    if kind in _REFUND_EVENTS:
        return _refund_event(event_id, obj, occurred_at)
    if kind == "charge.refunded":
        refunds = (obj.get("refunds") or {}).get("data") if isinstance(obj.get("refunds"), dict) else None
        if isinstance(refunds, list) and refunds and isinstance(refunds[0], dict):
            return _refund_event(event_id, refunds[0], occurred_at)  # Stripe lists the newest first
    return ProviderEvent(event_id=event_id, kind=ProviderEventKind.IGNORED, order_id=None, occurred_at=occurred_at)


def _intent_event(event_id: str, kind: str, intent: dict[str, Any], occurred_at: datetime | None) -> ProviderEvent:
    order_id, reason = intent_order_id(intent), intent_failure(intent)
    if order_id is None or (kind == "payment_intent.payment_failed" and reason == _AUTHENTICATION_REQUIRED):
        return ProviderEvent(event_id=event_id, kind=ProviderEventKind.IGNORED, order_id=None, occurred_at=occurred_at)
    succeeded = kind == "payment_intent.succeeded"
    customer = intent.get("customer")
    customer = customer.get("id") if isinstance(customer, dict) else customer
    return ProviderEvent(event_id=event_id,
                         kind=ProviderEventKind.PAYMENT_SUCCEEDED if succeeded else ProviderEventKind.PAYMENT_FAILED,
                         order_id=order_id, amount=money(intent.get("amount"), intent.get("currency")),
                         provider_reference=_text(intent.get("id")), occurred_at=occurred_at,
                         failure_reason=None if succeeded else reason or "payment_failed", payer_id=_text(customer))


def intent_order_id(intent: dict[str, Any]) -> str | None:
    """Our order id of an off-session charge's PaymentIntent (`metadata[order_id]`); None for any
    other, a Checkout Session's (`metadata[session_id]` too) included."""
    metadata = intent.get("metadata") if isinstance(intent.get("metadata"), dict) else {}
    return None if "session_id" in metadata else _text(metadata.get("order_id"))


def intent_failure(intent: dict[str, Any]) -> str | None:
    """Why a PaymentIntent's last attempt failed: `last_payment_error`'s decline code, else its code."""
    error = intent.get("last_payment_error")
    if not isinstance(error, dict):
        return None
    return _text(error.get("decline_code")) or _text(error.get("code"))


def _refund_event(event_id: str, refund: dict[str, Any], occurred_at: datetime | None) -> ProviderEvent:
    metadata = refund.get("metadata") if isinstance(refund.get("metadata"), dict) else {}
    refund_order_id = _text(metadata.get("refund_order_id"))
    port_kind = _REFUND_KINDS.get(refund.get("status"), ProviderEventKind.IGNORED) if refund_order_id \
        else ProviderEventKind.IGNORED  # a refund made elsewhere (the Dashboard) is not one of ours
    return ProviderEvent(event_id=event_id, kind=port_kind, order_id=_text(metadata.get("order_id")),
                         amount=money(refund.get("amount"), refund.get("currency")),
                         provider_reference=_text(refund.get("id")), refund_order_id=refund_order_id,
                         failure_reason=(_text(refund.get("failure_reason")) or _text(refund.get("status")))
                         if port_kind is ProviderEventKind.REFUND_FAILED else None,  # a canceled one names none
                         occurred_at=occurred_at)


def session_order_id(session: dict[str, Any]) -> str | None:
    """Our order id of a Checkout Session: its `client_reference_id` (else `metadata[order_id]`)."""
    metadata = session.get("metadata") if isinstance(session.get("metadata"), dict) else {}
    return _text(session.get("client_reference_id")) or _text(metadata.get("order_id"))


def session_payer(session: dict[str, Any]) -> str | None:
    """The payer's Stripe customer (`cus_…`), or the payment method's fingerprint when the session
    has an expanded `payment_intent.latest_charge`; None when neither is there."""
    customer = session.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if _text(customer):
        return customer
    intent = session.get("payment_intent")
    charge = intent.get("latest_charge") if isinstance(intent, dict) else None
    return charge_fingerprint(charge) if isinstance(charge, dict) else None


def charge_fingerprint(charge: dict[str, Any]) -> str | None:
    """`payment_method_details.<type>.fingerprint` of a charge (cards; WeChat Pay and Alipay have one too)."""
    details = charge.get("payment_method_details")
    if not isinstance(details, dict):
        return None
    method = details.get(details.get("type")) if isinstance(details.get("type"), str) else None
    return _text(method.get("fingerprint")) if isinstance(method, dict) else None


def session_status(order_id: str, session: dict[str, Any]) -> PaymentStatus:
    """The port's status of a retrieved Checkout Session (`status` and `payment_status`)."""
    status, payment_status = session.get("status"), session.get("payment_status")
    amount = money(session.get("amount_total"), session.get("currency"), strict=False)
    reference, payer = _text(session.get("id")), session_payer(session)
    if status == "complete" and payment_status in ("paid", "no_payment_required"):
        intent = session.get("payment_intent")
        charge = intent.get("latest_charge") if isinstance(intent, dict) else None
        paid_at = unix_time(charge.get("created")) if isinstance(charge, dict) else None
        return PaymentStatus(order_id, PaymentState.SUCCEEDED, amount, reference, paid_at, payer_id=payer)
    if status == "expired":
        return PaymentStatus(order_id, PaymentState.CLOSED, amount, reference, payer_id=payer)
    intent = session.get("payment_intent")
    if status == "complete" and isinstance(intent, dict) and intent.get("status") == "canceled":
        return PaymentStatus(order_id, PaymentState.FAILED, amount, reference, failure_reason="async_payment_failed",
                             payer_id=payer)
    return PaymentStatus(order_id, PaymentState.PENDING, amount, reference, payer_id=payer)


def money(amount: Any, currency: Any, *, strict: bool = True) -> Money | None:
    """`amount` minor units of `currency`, read exactly; refused (strict) or None when malformed."""
    if amount is None and currency is None:
        return None
    if type(amount) is not int or amount < 0 or not (isinstance(currency, str) and len(currency) == 3
                                                     and currency.isascii() and currency.isalpha()):
        if strict:
            raise InvalidSignatureError("The Stripe event's amount or currency is malformed.")
        return None
    code = currency.upper()
    found = Currency.of(code) if code in _KNOWN_CURRENCIES else Currency(code, 0 if code in _ZERO_DECIMAL else 2)
    return Money(amount, found)


def unix_time(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if type(value) is int and 0 < value < 2**37 else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
