"""Saved cards in the port's terms (port 1.6): Stripe PaymentMethods as `SavedMethodDetails`, and
the PaymentIntents of off-session charges as `ChargeResult`s (their answer) and `PaymentStatus`es
(their query).

| PaymentIntent                                      | `charge_saved_method`        | `query_payment`                   |
|----------------------------------------------------|------------------------------|-----------------------------------|
| `succeeded`                                        | SUCCEEDED                    | SUCCEEDED (paid time, amount)     |
| `processing`, `requires_capture`, `requires_confirmation` | PENDING               | PENDING                           |
| 402 `card_error` `authentication_required`, or `requires_action` | REQUIRES_PAYER | FAILED `authentication_required` |
| 402 other `card_error` (`requires_payment_method` with `last_payment_error`) | FAILED, its decline code | FAILED, its decline code |
| `canceled`                                         | FAILED `canceled`            | CLOSED                            |

With `off_session=true` Stripe answers a card that asks for authentication with a 402 rather than
leaving the intent in `requires_action`; both mean that the payer must be there. Nobody is there to
finish an off-session intent later, so a query reads it as failed: the core has opened a session
for the payer by then, and that session's events settle the order.
"""
from __future__ import annotations

from typing import Any

from plugins.stripe.client import StripeCardError
from plugins.stripe.events import intent_failure, money, unix_time
from ports.payment_provider import ChargeResult, ChargeState, PaymentState, PaymentStatus, SavedMethodDetails

AUTHENTICATION_REQUIRED = "authentication_required"
# Stripe's card brands (`card.brand`) as payers know them; another is shown capitalised
BRANDS = {"visa": "Visa", "mastercard": "Mastercard", "amex": "American Express", "discover": "Discover",
          "diners": "Diners Club", "jcb": "JCB", "unionpay": "UnionPay", "cartes_bancaires": "Cartes Bancaires",
          "eftpos_au": "eftpos Australia", "interac": "Interac", "link": "Link"}
_PENDING = ("processing", "requires_capture", "requires_confirmation")


def saved_method_details(payment_method: dict[str, Any]) -> SavedMethodDetails | None:
    """A card PaymentMethod (`pm_…`) as the port's saved method; None for another type."""
    card, token = payment_method.get("card"), payment_method.get("id")
    if payment_method.get("type") != "card" or not isinstance(card, dict) or not _text(token):
        return None
    brand, last4 = _text(card.get("brand")), _text(card.get("last4"))
    return SavedMethodDetails(token=token, payment_method="credit_card", label=label(brand, last4), brand=brand,
                              last4=last4, exp_month=_number(card.get("exp_month")),
                              exp_year=_number(card.get("exp_year")), fingerprint=_text(card.get("fingerprint")))


def label(brand: str | None, last4: str | None) -> str:
    """"Visa •••• 4242"."""
    name = BRANDS.get(brand or "", (brand or "card").replace("_", " ").title())
    return f"{name} •••• {last4}" if last4 else name


def charge_result(order_id: str, intent: dict[str, Any]) -> ChargeResult:
    """The answer to an off-session charge Stripe answered with its PaymentIntent."""
    status, reference, payer = intent.get("status"), _text(intent.get("id")), _customer(intent)
    if status == "succeeded":
        return ChargeResult(order_id, ChargeState.SUCCEEDED, reference, payer_id=payer)
    if status in _PENDING:
        return ChargeResult(order_id, ChargeState.PENDING, reference, payer_id=payer)
    reason = intent_failure(intent)
    if status == "requires_action" or reason == AUTHENTICATION_REQUIRED:
        return ChargeResult(order_id, ChargeState.REQUIRES_PAYER, reference, payer_id=payer)
    return ChargeResult(order_id, ChargeState.FAILED, reference, failure_reason=reason or status or "failed",
                        payer_id=payer)


def declined(order_id: str, error: StripeCardError) -> ChargeResult:
    """The answer to an off-session charge Stripe refused with a `card_error`."""
    reason = error.decline_code or error.stripe_code or "card_declined"
    if AUTHENTICATION_REQUIRED in (error.stripe_code, error.decline_code):
        return ChargeResult(order_id, ChargeState.REQUIRES_PAYER, error.payment_intent_id)
    return ChargeResult(order_id, ChargeState.FAILED, error.payment_intent_id, failure_reason=reason)


def intent_status(order_id: str, intent: dict[str, Any]) -> PaymentStatus:
    """The port's status of a retrieved off-session PaymentIntent (its `latest_charge` expanded for
    the paid time)."""
    status, reference, payer = intent.get("status"), _text(intent.get("id")), _customer(intent)
    amount = money(intent.get("amount"), intent.get("currency"), strict=False)
    if status == "succeeded":
        charge = intent.get("latest_charge")
        paid_at = unix_time(charge.get("created")) if isinstance(charge, dict) else None
        return PaymentStatus(order_id, PaymentState.SUCCEEDED, amount, reference, paid_at, payer_id=payer)
    if status == "canceled":
        return PaymentStatus(order_id, PaymentState.CLOSED, amount, reference, payer_id=payer)
    reason = intent_failure(intent)
    if status == "requires_action" or (status == "requires_payment_method" and reason):
        return PaymentStatus(order_id, PaymentState.FAILED, amount, reference,
                             failure_reason=reason or AUTHENTICATION_REQUIRED, payer_id=payer)
    return PaymentStatus(order_id, PaymentState.PENDING, amount, reference, payer_id=payer)


def _customer(intent: dict[str, Any]) -> str | None:
    customer = intent.get("customer")
    return _text(customer.get("id") if isinstance(customer, dict) else customer)


def _number(value: Any) -> int | None:
    return value if type(value) is int else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
