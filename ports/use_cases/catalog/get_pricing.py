"""The catalog as the frontend shows it: receive prices with their tiers, and the plans."""
from __future__ import annotations

import attrs

from domain.catalog import Catalog
from ports.use_cases.settings import UseCaseSettings


@attrs.define
class GetPricing:
    _settings: UseCaseSettings

    async def __call__(self) -> Catalog:
        return self._settings.catalog
