"""The SQL membership repository (`ports.repositories.MembershipRepository`): memberships, and
the receives ledger rows appended with them.

`lock_for_order` finds a provider order's transaction and user and locks the user's membership in
one statement: on PostgreSQL the lock is taken in a `LATERAL` subquery (`FOR UPDATE` may not be
applied to the nullable side of an outer join, and the user may have no membership yet)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql import mapping
from adapters.sql.context import SqlContext, select_by
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

    async def lock_for_order(self, order_id: str) -> OrderOwner | None:
        row = await self._c.one(_OWNER_OF_ORDER, order_id=order_id)
        if row is None:
            return None
        membership = None
        if row["user_id"] is not None:
            self._c.hold(memberships, [row])
            membership = mapping.membership_from_row(row)
        return OrderOwner(row["owner_transaction_id"], row["owner_user_id"], membership)

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
