"""The expiry sweep: store `expired` on open sessions past their `expires_at`, expire pending
transactions whose attempts have all lapsed, then close the provider orders.

Safe to run in several processes at once: each batch locks its rows and skips rows another
sweeper holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL)."""
from __future__ import annotations

import attrs

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
        async with self._uow() as uow:
            sessions = await uow.sessions.list_due_for_expiry(now, self.batch_size)
            for session in sessions:
                session.expire(now)
                await uow.sessions.update(session)
            await uow.commit()
        async with self._uow() as uow:
            transactions = await uow.transactions.list_expirable(now, self.batch_size)
            for transaction in transactions:
                transaction.expire(now)
                await uow.transactions.update(transaction)
            await uow.commit()
        await self._orders.close(sessions)
        return ExpiryReport(len(sessions), len(transactions))
