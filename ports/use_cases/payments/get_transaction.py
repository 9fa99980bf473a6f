"""Read one transaction of the caller's with all its payment sessions."""
from __future__ import annotations

import attrs

from domain.errors import TransactionNotFoundError
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.views import SessionView, TransactionView


@attrs.frozen
class GetTransactionQuery:
    user_id: str
    transaction_id: str


@attrs.frozen
class TransactionDetail:
    transaction: TransactionView
    sessions: tuple[SessionView, ...]


@attrs.define
class GetTransaction:
    _uow: UnitOfWorkFactory
    _clock: Clock

    async def __call__(self, query: GetTransactionQuery) -> TransactionDetail:
        async with self._uow(read_only=True) as uow:
            found = await uow.transactions.get_with_sessions(query.transaction_id, user_id=query.user_id)
            if found is None:
                raise TransactionNotFoundError(query.transaction_id)
            transaction, sessions = found
        now = self._clock.now()
        return TransactionDetail(TransactionView.of(transaction), tuple(SessionView.of(s, now) for s in sessions))
