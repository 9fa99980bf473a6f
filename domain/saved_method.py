"""A saved payment method: a provider's token for a method the payer kept (a card at Stripe, the
mock's own token), with what the payer sees of it. Never a card number: the provider tokenized it.

One user's methods: at most one is the default (the first one saved is), a deleted one is kept
(`deleted_at`, no longer listed or chargeable) so that transactions that name it still read.
Saving is idempotent by the provider's token: the same method saved twice is one row.
"""
from __future__ import annotations

from datetime import datetime

import attrs


@attrs.define(eq=False)
class SavedMethod:
    id: str  # spm_…
    user_id: str
    provider: str  # the plugin that holds the token (`mock`, `stripe`)
    payment_method: str  # the method id it pays with (`credit_card`, …)
    token: str  # the provider's id of the method (Stripe `pm_…`)
    label: str  # "Visa •••• 4242"
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None = None
    version: int = 0
    events: list = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SavedMethod) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def save(cls, *, id: str, user_id: str, provider: str, payment_method: str, token: str, label: str,
             brand: str | None, last4: str | None, exp_month: int | None, exp_year: int | None,
             is_default: bool, now: datetime) -> SavedMethod:
        return cls(id=id, user_id=user_id, provider=provider, payment_method=payment_method, token=token,
                   label=label, brand=brand, last4=last4, exp_month=exp_month, exp_year=exp_year,
                   is_default=is_default, created_at=now, updated_at=now)

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    def delete(self, now: datetime) -> None:
        """No longer listed or chargeable (and no longer the default). Deleting again changes nothing."""
        if self.deleted_at is None:
            self.deleted_at = now
            self.is_default = False
            self.updated_at = now
