"""Read one transaction of the caller's with all its payment sessions, as of now: a pending one
whose attempts have all lapsed reads `expired` before the sweep stores it (`ports.queries.read_at`)."""
from __future__ import annotations

import attrs

from domain.errors import TransactionNotFoundError
from ports.clock import Clock
from ports.queries import PaymentQueries, read_at
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
    _queries: PaymentQueries
    _clock: Clock

    async def __call__(self, query: GetTransactionQuery) -> TransactionDetail:
        transaction = await self._queries.transaction(query.transaction_id, user_id=query.user_id)
        if transaction is None:
            raise TransactionNotFoundError(query.transaction_id)
        now = self._clock.now()
        return TransactionDetail(TransactionView.of(read_at(transaction, now)),
                                 tuple(SessionView.of(s, now) for s in transaction.sessions))
