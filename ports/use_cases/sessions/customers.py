"""Each user's customer at a provider that keeps saved methods (Stripe `cus_…`): asked of the
provider once (`create_customer`, outside any unit of work; the plugin makes it idempotent per
user), stored per user and provider, and passed on orders and off-session charges as
`customer_reference`. Two processes asking at once store one: the first writer wins, and both
use the stored one."""
from __future__ import annotations

import attrs

from ports.clock import Clock
from ports.payment_provider import PaymentProvider, saves_methods
from ports.unit_of_work import UnitOfWorkFactory


@attrs.frozen
class ProviderCustomers:
    _uow: UnitOfWorkFactory
    _clock: Clock

    async def stored(self, user_id: str, provider: PaymentProvider) -> str | None:
        """The user's customer at `provider` if one is stored (never asks the provider)."""
        if not saves_methods(provider):
            return None
        async with self._uow() as uow:
            return await uow.provider_customers.get(user_id, provider.name)

    async def ensure(self, user_id: str, provider: PaymentProvider) -> str | None:
        """The user's customer at `provider`, made there and stored the first time (None: the
        provider needs none, or keeps no methods). Provider errors are raised."""
        if not saves_methods(provider):
            return None
        found = await self.stored(user_id, provider)
        if found is not None:
            return found
        made = await provider.create_customer(user_id)  # type: ignore[attr-defined]  # port 1.6
        if made is None:
            return None
        async with self._uow() as uow:
            stored = await uow.provider_customers.add(user_id, provider.name, made, self._clock.now())
            await uow.commit()
        return stored
