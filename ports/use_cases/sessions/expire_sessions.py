"""The expiry sweep: store `expired` on open sessions past their `expires_at` and on pending
transactions whose attempts have all lapsed, then close the provider orders.

Safe to run in several processes at once: each batch locks its transactions (with their
sessions) and skips those another sweeper holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL)."""
from __future__ import annotations

import attrs

from domain.session import PaymentSession
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.sessions.provider_orders import ProviderOrders


@attrs.frozen
class ExpiryReport:
    sessions_expired: int
    transactions_expired: int


@attrs.define
class ExpireSessions:
    _uow: UnitOfWorkFactory
    _orders: ProviderOrders
    _clock: Clock
    batch_size: int = 100

    async def __call__(self) -> ExpiryReport:
        now = self._clock.now()
        expired: list[PaymentSession] = []
        transactions_expired = 0
        async with self._uow() as uow:
            for transaction in await uow.transactions.claim_expirable(now, self.batch_size):
                expired.extend(transaction.expire_lapsed_sessions(now))
                transactions_expired += transaction.expire_if_lapsed(now)
                await uow.transactions.update(transaction)
            await uow.commit()
        await self._orders.close(expired)
        return ExpiryReport(len(expired), transactions_expired)
