"""The read model of a saved method, as the API shows it (`SavedMethod` of the contract)."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.saved_method import SavedMethod


@attrs.frozen
class SavedMethodView:
    id: str
    payment_method: str
    provider: str
    label: str
    brand: str | None
    last4: str | None
    exp_month: int | None
    exp_year: int | None
    is_default: bool
    created_at: datetime

    @classmethod
    def of(cls, m: SavedMethod) -> SavedMethodView:
        return cls(id=m.id, payment_method=m.payment_method, provider=m.provider, label=m.label, brand=m.brand,
                   last4=m.last4, exp_month=m.exp_month, exp_year=m.exp_year, is_default=m.is_default,
                   created_at=m.created_at)
