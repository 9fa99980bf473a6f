"""Quote a purchase of receives: the subtotal, discount and total that buying `amount` receives
would charge now, priced by the same catalog rule as the purchase, at the caller's prices (a price
experiment's variant while one runs, docs/experiments.md). Nothing is stored, not even an exposure."""
from __future__ import annotations

import attrs

from domain.catalog import ReceivesQuote
from ports.use_cases.experiments.user_prices import UserPrices, prices_for
from ports.use_cases.settings import UseCaseSettings


@attrs.frozen
class QuoteReceivesQuery:
    amount: int
    user_id: str | None = None  # None: the catalog's prices


@attrs.define
class QuoteReceives:
    _settings: UseCaseSettings
    _prices: UserPrices | None = None

    async def __call__(self, query: QuoteReceivesQuery) -> ReceivesQuote:
        """Raises DomainValidationError (field `amount`) outside the catalog's quantities."""
        if query.user_id is None:
            return self._settings.catalog.receives.quote(query.amount)
        priced = await prices_for(self._prices, self._settings, query.user_id)
        return priced.catalog.receives.quote(query.amount)
