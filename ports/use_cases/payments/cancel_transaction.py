"""Cancel a pending transaction: it becomes `cancelled`, its open sessions are cancelled and their
provider orders closed. A payment that still arrives later is not lost (see HandleNotification)."""
from __future__ import annotations

import attrs

from domain.errors import TransactionNotFoundError
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.sessions.provider_orders import ProviderOrders
from ports.use_cases.views import TransactionView


@attrs.frozen
class CancelTransactionCommand:
    user_id: str
    transaction_id: str
    reason: str | None = None


@attrs.define
class CancelTransaction:
    _uow: UnitOfWorkFactory
    _orders: ProviderOrders
    _clock: Clock

    async def __call__(self, cmd: CancelTransactionCommand) -> TransactionView:
        now = self._clock.now()
        async with self._uow() as uow:
            transaction = await uow.transactions.get(cmd.transaction_id, user_id=cmd.user_id, for_update=True)
            if transaction is None:
                raise TransactionNotFoundError(cmd.transaction_id)
            closing = transaction.cancel(cmd.reason, now)  # only pending: InvalidTransitionError otherwise
            await uow.transactions.update(transaction)
            await uow.commit()
        await self._orders.close(closing)
        return TransactionView.of(transaction)
