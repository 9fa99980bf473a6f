"""The read side on SQL (`ports.queries.PaymentQueries`): each read one statement on a connection
in autocommit (no BEGIN/COMMIT round trips, no locks), seeing committed data only."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from databases import Database

from adapters.sql import mapping
from adapters.sql.connections import autocommit
from adapters.sql.context import select_by
from adapters.sql.repositories.history import history, history_shape, history_values
from adapters.sql.repositories.transactions import assemble, with_sessions
from adapters.sql.statements import prepared
from adapters.sql.tables import memberships, payment_refunds, payment_sessions, receives_ledger, transactions
from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.refund import Refund, RefundStatus
from domain.session import PaymentSession
from domain.transaction import Transaction
from ports.queries import TransactionQuery

_REFUNDS_PENDING = prepared("refunds_pending", lambda dialect: (
    sa.select(payment_refunds)
    .where(payment_refunds.c.status == RefundStatus.PENDING.value,
           payment_refunds.c.created_at <= sa.bindparam("created_before", type_=payment_refunds.c.created_at.type))
    .order_by(payment_refunds.c.created_at, payment_refunds.c.id).limit(sa.bindparam("limit_", type_=sa.Integer))))


class SqlQueries:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def session(self, session_id: str, *, user_id: str | None = None) -> PaymentSession | None:
        async with autocommit(self._database) as db:
            row = await db.by_id(payment_sessions, session_id, user_id, False)
        return None if row is None else mapping.session_from_row(row)

    async def transaction(self, transaction_id: str, *, user_id: str | None = None) -> Transaction | None:
        values = {"id": transaction_id} if user_id is None else {"id": transaction_id, "user_id": user_id}
        async with autocommit(self._database) as db:
            rows = await db.all(with_sessions("id" if user_id is None else "id_user", False), **values)
            if not rows:  # no such transaction, or one settled without a session
                row = await db.by_id(transactions, transaction_id, user_id, False)
                return None if row is None else mapping.transaction_from_row(row)
        [(found, _)] = assemble(rows)
        return found

    async def history(self, user_id: str, query: TransactionQuery) -> tuple[list[Transaction], int]:
        shape, values = history_shape(query), history_values(user_id, query)
        async with autocommit(self._database) as db:
            rows = await db.all(history(shape, page=True), **values)
            if rows:
                total = int(rows[0]["total_"])
            elif query.offset == 0:
                total = 0
            else:  # a page past the end: the total is still wanted
                total = int(await db.value(history(shape, page=False), **values))
        return [mapping.transaction_from_row(row) for row in rows], total

    async def membership(self, user_id: str) -> Membership | None:
        async with autocommit(self._database) as db:
            row = await db.one(select_by(memberships, "user_id"), user_id=user_id)
        return None if row is None else mapping.membership_from_row(row)

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        query = sa.select(receives_ledger).where(receives_ledger.c.user_id == user_id).order_by(receives_ledger.c.id)
        async with autocommit(self._database) as db:
            return [mapping.ledger_entry_from_row(row) for row in await db.fetch_all(query)]

    async def refunds_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        async with autocommit(self._database) as db:
            rows = await db.all(_REFUNDS_PENDING, created_before=created_before, limit_=limit)
        return [mapping.refund_from_row(row) for row in rows]

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        r = payment_refunds
        query = sa.select(r).where(r.c.transaction_id == transaction_id).order_by(r.c.created_at, r.c.id)
        async with autocommit(self._database) as db:
            return [mapping.refund_from_row(row) for row in await db.fetch_all(query)]
