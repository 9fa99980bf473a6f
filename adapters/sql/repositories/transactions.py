"""The SQL transaction repository (`ports.repositories.TransactionRepository`): a transaction is
loaded, locked and stored whole, with its payment sessions.

- Loading is one statement: the transaction joined to its sessions (oldest first), locked
  transaction first when `for_update` (a transaction settled without a session, a zero-charge
  plan change, takes a second read).
- Storing writes the transaction's row (version-checked, like every aggregate here), then each
  session that is new (inserted) or differs from what this unit of work loaded (updated,
  version-checked). On PostgreSQL the writes to rows the unit of work holds are queued and sent
  together (`adapters.sql.batch`).
- `add` stores the transaction, its sessions and reads the user's pending count in one
  statement on PostgreSQL (`SqlContext.insert_aggregates_then`).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from adapters.sql import mapping
from adapters.sql.context import SqlContext, select_by
from adapters.sql.statements import Dialect, Prepared, prepared
from adapters.sql.tables import payment_sessions, transactions
from domain.session import SessionStatus
from domain.transaction import PLAN_CHANGE_TYPES, Transaction, TransactionStatus, TransactionType

_PENDING = TransactionStatus.PENDING.value
_OPEN = SessionStatus.OPEN.value

_COUNT_PENDING = prepared("count_pending", lambda dialect: (
    sa.select(sa.func.count()).select_from(transactions)
    .where(transactions.c.user_id == sa.bindparam("user_id"), transactions.c.status == _PENDING)))


def with_sessions(where: str, for_update: bool) -> Prepared:
    """Transactions joined to their sessions (each transaction's oldest first), columns prefixed
    `t_` and `s_`, found by `where`: "id", "id_user" (id and owner) or "session_order" (the one
    with a session of this provider order id). Locked, transaction first, when `for_update`."""
    t, s = transactions, payment_sessions

    def build(dialect: type[Dialect]) -> Select:
        query = (sa.select(*(c.label(f"t_{c.name}") for c in t.c), *(c.label(f"s_{c.name}") for c in s.c))
                 .join_from(t, s, s.c.transaction_id == t.c.id).order_by(s.c.created_at, s.c.id))
        if where == "session_order":
            owner = sa.select(s.c.transaction_id).where(s.c.order_id == sa.bindparam("order_id")).scalar_subquery()
            query = query.where(t.c.id == owner)
        else:
            query = query.where(t.c.id == sa.bindparam("id"))
            if where == "id_user":
                query = query.where(t.c.user_id == sa.bindparam("user_id"))
        return dialect.locked(query, of=(t, s)) if for_update else query
    return prepared(("with_sessions", where, for_update), build)


def _split(row: Mapping[str, Any], prefix: str) -> dict[str, Any]:
    """The columns of `row` named `prefix…`, without the prefix (values read through the row, so
    `databases` applies its SQLite type processing)."""
    return {name[len(prefix):]: row[name] for name in row.keys() if name.startswith(prefix)}


def assemble(rows: list[Mapping[str, Any]]) -> list[tuple[Transaction, list[dict[str, Any]]]]:
    """Transactions (in the order of `rows`) with their sessions, from joined rows; with each
    transaction the session rows it was built from."""
    found: dict[str, tuple[Transaction, list[dict[str, Any]]]] = {}
    for row in rows:
        session_row = _split(row, "s_")
        entry = found.get(row["t_id"])
        if entry is None:
            entry = found[row["t_id"]] = (mapping.transaction_from_row(_split(row, "t_")), [])
        entry[0].sessions.append(mapping.session_from_row(session_row))
        entry[1].append(session_row)
    return list(found.values())


class SqlTransactionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, transaction: Transaction) -> int:
        inserts = [(transactions, mapping.transaction_to_row(transaction), transaction)]
        inserts += [(payment_sessions, mapping.session_to_row(s), s) for s in transaction.sessions]
        pending = int(await self._c.insert_aggregates_then(inserts, _COUNT_PENDING, user_id=transaction.user_id))
        self._remember(transaction)
        return pending

    async def get(self, transaction_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> Transaction | None:
        values = {"id": transaction_id} if user_id is None else {"id": transaction_id, "user_id": user_id}
        rows = await self._c.all(with_sessions("id" if user_id is None else "id_user", for_update), **values)
        if not rows:  # no such transaction, or one settled without a session (a zero-charge plan change)
            row = await self._c.by_id(transactions, transaction_id, user_id, for_update)
            return None if row is None else mapping.transaction_from_row(row)
        [transaction] = self._loaded(rows, for_update)
        return transaction

    def locked_from_rows(self, rows: list[Mapping[str, Any]]) -> Transaction:
        """The one transaction of `rows` (`with_sessions`' columns, locked by the statement that
        read them, e.g. `SqlMembershipRepository.lock_for_order`), as `get(…, for_update=True)`
        returns it."""
        [transaction] = self._loaded(rows, True)
        return transaction

    async def get_by_session_order_id(self, order_id: str) -> Transaction | None:
        found = self._loaded(await self._c.all(with_sessions("session_order", False), order_id=order_id), False)
        return found[0] if found else None

    async def update(self, transaction: Transaction) -> None:
        await self._c.update_aggregate(transactions, mapping.transaction_to_row(transaction), transaction)
        if any(session.id not in self._c.snapshots for session in transaction.sessions):
            await self._read_stored_sessions(transaction.id)  # loaded by another unit of work, or new
        for session in transaction.sessions:
            row = mapping.session_to_row(session)
            stored = self._c.snapshots.get(session.id)
            if stored is None:
                await self._c.insert_aggregate(payment_sessions, row, session)  # DuplicateKeyError if taken
            elif row != stored:
                await self._c.update_aggregate(payment_sessions, row, session)
            self._c.snapshots[session.id] = mapping.session_to_row(session)

    async def _read_stored_sessions(self, transaction_id: str) -> None:
        """What is stored of the transaction's sessions, as snapshots to compare with."""
        s = payment_sessions
        rows = await self._c.all(select_by(s, "transaction_id", order_by=(s.c.created_at, s.c.id)),
                                 transaction_id=transaction_id)
        for row in rows:
            self._c.snapshots.setdefault(row["id"], mapping.session_to_row(mapping.session_from_row(row)))

    async def list_pending_plan_changes(self, user_id: str, *, for_update: bool = False) -> list[Transaction]:
        t = transactions
        query = (sa.select(t).where(t.c.user_id == user_id, t.c.status == _PENDING,
                                    t.c.type.in_(sorted(kind.value for kind in PLAN_CHANGE_TYPES)))
                 .order_by(t.c.created_at, t.c.id))
        return await self._whole(query, for_update=for_update)

    async def claim_expirable(self, now: datetime, limit: int) -> list[Transaction]:
        t, s = transactions, payment_sessions
        # Candidates from two small index scans (open sessions past their expiry; pending
        # transactions), never a scan of every transaction.
        lapsed_sessions = sa.select(s.c.transaction_id).where(s.c.status == _OPEN, s.c.expires_at <= now)
        p = transactions.alias("p")
        last_expiry = sa.select(sa.func.max(s.c.expires_at)).where(s.c.transaction_id == p.c.id).scalar_subquery()
        open_now = sa.exists().where(s.c.transaction_id == p.c.id, s.c.status == _OPEN, s.c.expires_at > now)
        lapsed_attempts = sa.select(p.c.id).where(p.c.status == _PENDING, ~open_now, last_expiry <= now,
                                                  p.c.type != TransactionType.PLAN_RENEWAL.value)  # renewals wait for grace
        query = (sa.select(t).where(t.c.id.in_(sa.union(lapsed_sessions, lapsed_attempts)))
                 .order_by(t.c.created_at, t.c.id))
        return await self._whole(query.limit(limit), for_update=True, skip_locked=True)

    async def claim_due_for_check(self, now: datetime, limit: int) -> list[Transaction]:
        t, s = transactions, payment_sessions
        due = sa.select(s.c.transaction_id).where(s.c.next_check_at <= now)
        first_due = (sa.select(sa.func.min(s.c.next_check_at))
                     .where(s.c.transaction_id == t.c.id, s.c.next_check_at <= now).scalar_subquery())
        query = sa.select(t).where(t.c.id.in_(due)).order_by(first_due, t.c.id)
        return await self._whole(query.limit(limit), for_update=True, skip_locked=True)

    async def pending_renewals(self, user_id: str) -> list[Transaction]:
        t = transactions
        query = (sa.select(t).where(t.c.user_id == user_id, t.c.status == _PENDING,
                                    t.c.type == TransactionType.PLAN_RENEWAL.value)
                 .order_by(t.c.created_at, t.c.id))
        return await self._whole(query, for_update=True)

    async def renewal_for(self, user_id: str, period_start: datetime) -> Transaction | None:
        t = transactions
        query = sa.select(t).where(t.c.user_id == user_id, t.c.type == TransactionType.PLAN_RENEWAL.value,
                                   t.c.renewal_period_start == period_start)
        found = await self._whole(query, for_update=True)
        return found[0] if found else None

    async def _whole(self, query: Select, *, for_update: bool, skip_locked: bool = False) -> list[Transaction]:
        """The transactions `query` selects (locked when `for_update`, skipping rows locked
        elsewhere when `skip_locked`), then their sessions (locked too)."""
        if for_update:
            query = self._c.locked(query, of=transactions, skip_locked=skip_locked)
        rows = await self._c.fetch_all(query)
        if not rows:
            return []
        if for_update:
            self._c.hold(transactions, rows)
        found = [mapping.transaction_from_row(row) for row in rows]
        s = payment_sessions
        sessions = sa.select(s).where(s.c.transaction_id.in_([t.id for t in found])).order_by(s.c.created_at, s.c.id)
        if for_update:
            sessions = self._c.locked(sessions, of=s)
        session_rows = await self._c.fetch_all(sessions)
        if for_update:
            self._c.hold(s, session_rows)
        by_id = {t.id: t for t in found}
        for row in session_rows:
            by_id[row["transaction_id"]].sessions.append(mapping.session_from_row(row))
        for transaction in found:
            self._remember(transaction)
        return found

    def _loaded(self, rows: list[Mapping[str, Any]], for_update: bool) -> list[Transaction]:
        found = []
        for transaction, session_rows in assemble(rows):
            if for_update:
                self._c.hold(transactions, [{"id": transaction.id}])
                self._c.hold(payment_sessions, session_rows)
            self._remember(transaction)
            found.append(transaction)
        return found

    def _remember(self, transaction: Transaction) -> None:
        """What this unit of work knows is stored of each session (`update` writes the rest)."""
        for session in transaction.sessions:
            self._c.snapshots[session.id] = mapping.session_to_row(session)
