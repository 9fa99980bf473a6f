"""Saved methods as the payment use cases see them (docs/saved-methods.md): whether a payment may
ask to save its method (only where the method's provider keeps methods of it, `can_save_method`:
`can_save_methods` and the method's `can_save`; WeChat Pay and Alipay plugins keep none, Stripe
only cards), checked before anything is stored; and `OneClickCharges`, what purchases and plan
changes ask of the off-session charges
(`ports.use_cases.saved_methods.charge_off_session.ChargeOffSession`, a layer above them)."""
from __future__ import annotations

from typing import Any, Protocol

from domain.errors import DomainValidationError
from domain.session import PaymentSession
from domain.transaction import Transaction
from ports.payment_provider import PaymentProvider, can_save_method


class OneClickCharges(Protocol):
    async def resolve(self, user_id: str, saved_method_id: str) -> tuple[Any, PaymentProvider]:
        """The user's chargeable saved method and its provider: `SavedMethodNotFoundError` (404)
        for someone else's, a deleted or an unknown one. Nothing is stored."""
        ...

    async def one_click(self, transaction: Transaction, attempt: PaymentSession,
                        return_url: str | None) -> tuple[Transaction, PaymentSession | None]:
        """Charge the committed off-session `attempt` now (a decline fails the transaction); the
        transaction after it and the session opened for the payer when the provider needs them."""
        ...


def check_can_save(provider: PaymentProvider, method: str, save_method: bool) -> None:
    """`DomainValidationError` (field `save_method`, 422) when `save_method` is asked of a
    provider that cannot save `method`."""
    if save_method and not can_save_method(provider, method):  # per method: Stripe saves cards, not WeChat Pay
        raise DomainValidationError(f"The {method} method cannot be saved here (its provider keeps no methods "
                                    f"of it).", field="save_method")
