"""The SQL membership repository (`ports.repositories.MembershipRepository`): memberships, and
the receives ledger rows appended with them.

`lock_for_order` finds a provider order's transaction and user and locks the user's membership in
one statement: on PostgreSQL the lock is taken in a `LATERAL` subquery (`FOR UPDATE` may not be
applied to the nullable side of an outer join, and the user may have no membership yet).

`with_transaction` also locks that transaction and its sessions in the same statement on
PostgreSQL, in a second `LATERAL` subquery that runs (and locks) only after the membership's row was
locked, and only when there is one: the lock order membership → transaction → session holds. (A
subquery with `FOR UPDATE` is not flattened into its parent, and its rows are locked as it emits
them.) The statement reads as of its start, before it waited for the membership's lock: a
transaction changed meanwhile comes back as it is now (`FOR UPDATE` rereads a row that changed), but
a session added meanwhile would be missing. Sessions are added only with an update of their
transaction (its `version` moves), so when the locked transaction's version is not the one the
statement first saw, it is read again (`TransactionRepository.get`, locks already held).
SQLite composes the two reads."""
from __future__ import annotations

import dataclasses
from datetime import datetime

import sqlalchemy as sa

from adapters.sql import mapping
from adapters.sql.context import SqlContext, select_by
from adapters.sql.repositories.transactions import SqlTransactionRepository
from adapters.sql.statements import Dialect, bind_all, prepared
from adapters.sql.tables import memberships, payment_sessions, receives_ledger, transactions
from domain.membership import Membership
from ports.repositories import DuplicateKeyError, OrderOwner


def _owner_of_order(dialect: type[Dialect]) -> sa.Select:
    t, s, m = transactions, payment_sessions, memberships
    owner = (sa.select(t.c.id.label("owner_transaction_id"), t.c.user_id.label("owner_user_id"))
             .join_from(s, t, t.c.id == s.c.transaction_id).where(s.c.order_id == sa.bindparam("order_id"))
             .subquery("o"))
    if dialect.name != "postgresql":  # SQLite: no row locks (its unit of work holds the write lock)
        return sa.select(owner, *m.c).select_from(owner.outerjoin(m, m.c.user_id == owner.c.owner_user_id))
    member = dialect.locked(sa.select(m).where(m.c.user_id == owner.c.owner_user_id), of=m).lateral("m")
    return sa.select(owner, *member.c).select_from(owner.outerjoin(member, sa.true()))


_OWNER_OF_ORDER = prepared("membership_of_order_owner", _owner_of_order)


def _owner_of_order_with_transaction(dialect: type[Dialect]) -> sa.Select:
    """PostgreSQL: `_owner_of_order`, and the transaction with its sessions (`with_sessions`'
    columns) locked after the membership, when it exists."""
    t, s, m = transactions, payment_sessions, memberships
    owner = (sa.select(t.c.id.label("owner_transaction_id"), t.c.user_id.label("owner_user_id"),
                       t.c.version.label("owner_version"))
             .join_from(s, t, t.c.id == s.c.transaction_id).where(s.c.order_id == sa.bindparam("order_id"))
             .subquery("o"))
    member = dialect.locked(sa.select(m).where(m.c.user_id == owner.c.owner_user_id), of=m).lateral("m")
    whole = (sa.select(*(c.label(f"t_{c.name}") for c in t.c), *(c.label(f"s_{c.name}") for c in s.c))
             .join_from(t, s, s.c.transaction_id == t.c.id)
             .where(t.c.id == owner.c.owner_transaction_id, member.c.user_id.is_not(None))
             .order_by(s.c.created_at, s.c.id))
    whole = dialect.locked(whole, of=(t, s)).lateral("ts")
    return (sa.select(owner, *member.c, *whole.c)
            .select_from(owner.outerjoin(member, sa.true()).outerjoin(whole, sa.true()))
            .order_by(whole.c.s_created_at, whole.c.s_id))


_OWNER_OF_ORDER_WITH_TRANSACTION = prepared("membership_of_order_owner_transaction", _owner_of_order_with_transaction)


class SqlMembershipRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def get(self, user_id: str, *, for_update: bool = False) -> Membership | None:
        row = await self._c.one(select_by(memberships, "user_id", for_update=for_update), user_id=user_id)
        return None if row is None else mapping.membership_from_row(row)

    async def add(self, membership: Membership) -> bool:
        try:
            await self._c.insert_aggregate(memberships, mapping.membership_to_row(membership), membership)
        except DuplicateKeyError:
            return False
        await self._append_entries(membership)
        return True

    async def update(self, membership: Membership) -> None:
        await self._c.update_aggregate(memberships, mapping.membership_to_row(membership), membership)
        await self._append_entries(membership)

    async def lock_for_order(self, order_id: str, *, with_transaction: bool = False) -> OrderOwner | None:
        combined = with_transaction and self._c.executor.name == "postgresql"
        if combined:
            rows = await self._c.all(_OWNER_OF_ORDER_WITH_TRANSACTION, order_id=order_id)
        else:
            row = await self._c.one(_OWNER_OF_ORDER, order_id=order_id)
            rows = [] if row is None else [row]
        if not rows:
            return None
        row = rows[0]
        if row["user_id"] is None:  # no membership yet: nothing locked
            return OrderOwner(row["owner_transaction_id"], row["owner_user_id"], None)
        self._c.hold(memberships, [row])
        owner = OrderOwner(row["owner_transaction_id"], row["owner_user_id"], mapping.membership_from_row(row))
        if not with_transaction:
            return owner
        found = SqlTransactionRepository(self._c)
        if combined and row["t_version"] == row["owner_version"]:
            transaction = found.locked_from_rows(rows)
        else:  # SQLite, or changed while the statement waited for the membership's lock
            transaction = await found.get(owner.transaction_id, for_update=True)
        return dataclasses.replace(owner, transaction=transaction)

    async def claim_due_renewals(self, now: datetime, limit: int) -> list[Membership]:
        m = memberships
        query = (sa.select(m).where(m.c.renewal_check_at.is_not(None), m.c.renewal_check_at <= now)
                 .order_by(m.c.renewal_check_at, m.c.user_id).limit(limit))
        rows = await self._c.fetch_all(self._c.locked(query, of=m, skip_locked=True))
        self._c.hold(m, rows)
        return [mapping.membership_from_row(row) for row in rows]

    async def _append_entries(self, membership: Membership) -> None:
        if membership.new_entries:
            rows = [mapping.ledger_entry_to_row(entry) for entry in membership.new_entries]
            columns = tuple(rows[0])
            statement = prepared(("ledger", len(rows), columns), lambda dialect: (
                receives_ledger.insert().values([bind_all(columns, f"_{i}") for i in range(len(rows))])))
            values = {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}
            await self._c.write(statement, **values)
            membership.new_entries.clear()
