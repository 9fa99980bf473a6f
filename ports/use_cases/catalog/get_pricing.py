"""The catalog as the frontend shows it: receive prices with their tiers, and the plans; while a
price experiment runs, the caller's variant of it (docs/experiments.md), which showing it exposes
the caller to (stored once)."""
from __future__ import annotations

import attrs

from domain.catalog import Catalog
from ports.use_cases.experiments.user_prices import UserPrices, expose, prices_for
from ports.use_cases.settings import UseCaseSettings


@attrs.define
class GetPricing:
    _settings: UseCaseSettings
    _prices: UserPrices | None = None

    async def __call__(self, user_id: str | None = None) -> Catalog:
        if user_id is None:
            return self._settings.catalog
        priced = await prices_for(self._prices, self._settings, user_id)
        await expose(self._prices, priced)
        return priced.catalog
