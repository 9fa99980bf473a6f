"""The SQL transaction repository (`ports.repositories.TransactionRepository`): payment
transactions, alone or joined to their sessions, the user's history and the expiry sweep."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from adapters.sql import mapping
from adapters.sql.context import SqlContext
from adapters.sql.repositories.history import history, history_shape, history_values
from adapters.sql.statements import Dialect, Prepared, prepared
from adapters.sql.tables import payment_sessions, transactions
from domain.session import PaymentSession, SessionStatus
from domain.transaction import PLAN_CHANGE_TYPES, Transaction, TransactionStatus
from ports.repositories import TransactionQuery

_PENDING = TransactionStatus.PENDING.value
_OPEN = SessionStatus.OPEN.value

_COUNT_PENDING = prepared("count_pending", lambda dialect: (
    sa.select(sa.func.count()).select_from(transactions)
    .where(transactions.c.user_id == sa.bindparam("user_id"), transactions.c.status == _PENDING)))


def _with_sessions(user_scoped: bool, for_update: bool) -> Prepared:
    """A transaction joined to its sessions (oldest first), columns prefixed `t_` and `s_`;
    locked transaction first, then the sessions in order, when `for_update`."""
    t, s = transactions, payment_sessions

    def build(dialect: type[Dialect]) -> Select:
        query = (sa.select(*(c.label(f"t_{c.name}") for c in t.c), *(c.label(f"s_{c.name}") for c in s.c))
                 .join_from(t, s, s.c.transaction_id == t.c.id).where(t.c.id == sa.bindparam("id"))
                 .order_by(s.c.created_at, s.c.id))
        if user_scoped:
            query = query.where(t.c.user_id == sa.bindparam("user_id"))
        return dialect.locked(query, of=(t, s)) if for_update else query
    return prepared(("with_sessions", user_scoped, for_update), build)


def _split(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The columns of `row` named `prefix…`, without the prefix (values read through the row, so
    `databases` applies its SQLite type processing)."""
    return {name[len(prefix):]: row[name] for name in row.keys() if name.startswith(prefix)}


class SqlTransactionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, transaction: Transaction) -> None:
        await self._c.insert_aggregate(transactions, mapping.transaction_to_row(transaction), transaction)

    async def get(self, transaction_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> Transaction | None:
        row = await self._c.by_id(transactions, transaction_id, user_id, for_update)
        return None if row is None else mapping.transaction_from_row(row)

    async def update(self, transaction: Transaction) -> None:
        await self._c.update_aggregate(transactions, mapping.transaction_to_row(transaction), transaction)

    async def get_with_sessions(self, transaction_id: str, *, user_id: str | None = None, for_update: bool = False
                                ) -> tuple[Transaction, list[PaymentSession]] | None:
        values = {"id": transaction_id} if user_id is None else {"id": transaction_id, "user_id": user_id}
        rows = await self._c.all(_with_sessions(user_id is not None, for_update), **values)
        if not rows:  # no such transaction, or one settled without a session (a zero-charge plan change)
            transaction = await self.get(transaction_id, user_id=user_id, for_update=for_update)
            return None if transaction is None else (transaction, [])
        transaction_row = _split(rows[0], "t_")
        session_rows = [_split(row, "s_") for row in rows]
        if for_update:
            self._c.hold(transactions, [transaction_row])
            self._c.hold(payment_sessions, session_rows)
        return (mapping.transaction_from_row(transaction_row),
                [mapping.session_from_row(row) for row in session_rows])

    async def add_with_session(self, transaction: Transaction, session: PaymentSession) -> int:
        inserts = [(transactions, mapping.transaction_to_row(transaction), transaction),
                   (payment_sessions, mapping.session_to_row(session), session)]
        return int(await self._c.insert_aggregates_then(inserts, _COUNT_PENDING, user_id=transaction.user_id))

    async def count_pending(self, user_id: str) -> int:
        return int(await self._c.value(_COUNT_PENDING, user_id=user_id))

    async def list_pending_plan_changes(self, user_id: str, *, for_update: bool = False) -> list[Transaction]:
        query = (sa.select(transactions)
                 .where(transactions.c.user_id == user_id, transactions.c.status == _PENDING,
                        transactions.c.type.in_(sorted(t.value for t in PLAN_CHANGE_TYPES)))
                 .order_by(transactions.c.created_at, transactions.c.id))
        if for_update:
            query = self._c.locked(query, of=transactions)
        return [mapping.transaction_from_row(row) for row in await self._c.fetch_all(query)]

    async def list_for_user(self, user_id: str, query: TransactionQuery) -> tuple[list[Transaction], int]:
        shape, values = history_shape(query), history_values(user_id, query)
        rows = await self._c.all(history(shape, page=True), **values)
        if rows:
            total = int(rows[0]["total_"])
        elif query.offset == 0:
            total = 0
        else:  # a page past the end: the total is still wanted
            total = int(await self._c.value(history(shape, page=False), **values))
        return [mapping.transaction_from_row(row) for row in rows], total

    async def list_expirable(self, now: datetime, limit: int) -> list[Transaction]:
        t, s = transactions, payment_sessions
        last_expiry = sa.select(sa.func.max(s.c.expires_at)).where(s.c.transaction_id == t.c.id).scalar_subquery()
        open_now = sa.exists().where(s.c.transaction_id == t.c.id, s.c.status == _OPEN, s.c.expires_at > now)
        query = (sa.select(t)
                 .where(t.c.status == _PENDING, ~open_now, sa.func.coalesce(last_expiry, t.c.created_at) <= now)
                 .order_by(t.c.created_at, t.c.id).limit(limit))
        query = self._c.locked(query, of=t, skip_locked=True)
        return [mapping.transaction_from_row(row) for row in await self._c.fetch_all(query)]
