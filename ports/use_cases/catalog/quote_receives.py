"""Quote a purchase of receives: the subtotal, discount and total that buying `amount` receives
would charge now, priced by the same catalog rule as the purchase. Nothing is stored."""
from __future__ import annotations

import attrs

from domain.catalog import ReceivesQuote
from ports.use_cases.settings import UseCaseSettings


@attrs.frozen
class QuoteReceivesQuery:
    amount: int


@attrs.define
class QuoteReceives:
    _settings: UseCaseSettings

    async def __call__(self, query: QuoteReceivesQuery) -> ReceivesQuote:
        """Raises DomainValidationError (field `amount`) outside the catalog's quantities."""
        return self._settings.catalog.receives.quote(query.amount)
