"""The prices a user is charged: the catalog, or, while an experiment runs, the catalog with the
user's variant in place (docs/experiments.md). Every quote, charge and proration asks here, so a
quote and the payment made at the same moment agree.

`of(user)` reads the running experiment and the user's stored assignment in one statement and
stores nothing (quotes use it as it is; a purchase reads them with the risk gate's facts in one
statement, `RiskGate.snapshot_and_running`, and prices `with_running`); `expose` stores the
assignment the first time the user is shown or charged those prices (`GET /pricing`, a purchase,
a plan change), once."""
from __future__ import annotations

import attrs

from domain.catalog import Catalog
from ports.clock import Clock
from ports.experiments import ExperimentStore, RunningExperiment
from ports.use_cases.settings import UseCaseSettings


@attrs.frozen
class UserCatalog:
    """`catalog` to price with; `price_variant` ("<experiment>/<variant>") for the transactions
    it prices, None outside experiments; `unexposed` the (experiment, user, variant) still to be
    stored as an exposure."""

    catalog: Catalog
    price_variant: str | None = None
    unexposed: tuple[str, str, str] | None = None


@attrs.define
class UserPrices:
    _store: ExperimentStore
    _settings: UseCaseSettings
    _clock: Clock

    @property
    def store(self) -> ExperimentStore:
        return self._store

    async def of(self, user_id: str) -> UserCatalog:
        return self.with_running(user_id, await self._store.running(user_id))

    def with_running(self, user_id: str, running: RunningExperiment | None) -> UserCatalog:
        """The user's prices given `running`, as the store's `running(user_id)` answered."""
        if running is None:
            return UserCatalog(self._settings.catalog)
        experiment = running.experiment
        assigned = running.assigned_variant
        variant = experiment.variant(assigned) if assigned is not None else experiment.assign(user_id)
        return UserCatalog(variant.catalog(self._settings.catalog), experiment.price_variant(variant),
                           None if assigned is not None else (experiment.id, user_id, variant.id))

    async def expose(self, priced: UserCatalog) -> None:
        """Store the user's first exposure to the variant of `priced` (nothing when stored already)."""
        if priced.unexposed is not None:
            await self._store.expose(*priced.unexposed, now=self._clock.now())


async def prices_for(prices: UserPrices | None, settings: UseCaseSettings, user_id: str) -> UserCatalog:
    """The user's prices; the settings' catalog when no experiments are wired (`prices` None)."""
    return UserCatalog(settings.catalog) if prices is None else await prices.of(user_id)


async def expose(prices: UserPrices | None, priced: UserCatalog) -> None:
    if prices is not None:
        await prices.expose(priced)
