"""The read side on SQL (`ports.queries.PaymentQueries`): each read one statement on a connection
in autocommit (no BEGIN/COMMIT round trips, no locks), seeing committed data only. A read after
a cursor first finds the cursor (one indexed row), then its page.

Lists are walked by keyset, never by OFFSET past a cursor: the history on
`ix_membership_transactions_history` (user_id, created_at DESC, id DESC) with the row comparison
`(created_at, id) < (cursor's)`, the ledger on `ix_receives_ledger_user` (user_id, id) with
`id < cursor`. A ledger line's `balance_after` is the membership's balance less the deltas newer
than it (a window over the page plus one sum of what lies above the page), so the newest pages,
the ones read, cost their own rows; the membership and its entries are written in one unit of
work, so one statement reads them consistent."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from databases import Database

from adapters.sql import mapping
from adapters.sql.connections import autocommit
from adapters.sql.context import select_by
from adapters.sql.repositories.transactions import assemble, with_sessions
from adapters.sql.statements import Prepared, prepared
from adapters.sql.tables import (
    UtcDateTime,
    memberships,
    payment_refunds,
    payment_sessions,
    receives_ledger,
    transactions,
)
from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.refund import Refund, RefundStatus
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionStatus, TransactionType
from ports.queries import LedgerLine, TransactionQuery, lapsed, ledger_id, ledger_sequence

_REFUNDS_PENDING = prepared("refunds_pending", lambda dialect: (
    sa.select(payment_refunds)
    .where(payment_refunds.c.status == RefundStatus.PENDING.value,
           payment_refunds.c.created_at <= sa.bindparam("created_before", type_=payment_refunds.c.created_at.type))
    .order_by(payment_refunds.c.created_at, payment_refunds.c.id).limit(sa.bindparam("limit_", type_=sa.Integer))))

PENDING, EXPIRED = TransactionStatus.PENDING, TransactionStatus.EXPIRED
# How a filter read at an instant treats pending transactions whose attempts have all lapsed.
KEEP, WITHOUT_LAPSED, ONLY_LAPSED = "keep", "without_lapsed", "only_lapsed"
HistoryShape = tuple[int, int, str, bool, bool, bool, str]


def _stored_statuses(query: TransactionQuery) -> tuple[tuple[TransactionStatus, ...], str]:
    """The stored statuses that can read as one of `query.statuses`, and what to do with the
    lapsed pending ones among them."""
    wanted = query.statuses
    if query.as_of is None or not wanted or (PENDING in wanted) == (EXPIRED in wanted):
        return wanted, KEEP
    if PENDING in wanted:
        return wanted, WITHOUT_LAPSED
    return (*wanted, PENDING), ONLY_LAPSED


def _history_shape(query: TransactionQuery, mode: str) -> HistoryShape:
    statuses, lapse = _stored_statuses(query)
    return (len(query.types), len(statuses), lapse, query.date_from is not None, query.date_to is not None,
            query.as_of is not None, mode)


def _history_values(user_id: str, query: TransactionQuery, **extra: Any) -> dict[str, Any]:
    statuses, _ = _stored_statuses(query)
    values: dict[str, Any] = {"user_id": user_id, "limit_": query.limit, **extra}
    values.update({f"type_in_{i}": x.value for i, x in enumerate(query.types)})
    values.update({f"status_in_{i}": x.value for i, x in enumerate(statuses)})
    values.update({name: getattr(query, name) for name in ("date_from", "date_to", "as_of")
                   if getattr(query, name) is not None})
    return values


def _history_select(shape: HistoryShape) -> sa.Select:
    """A user's history of this shape, newest first (ties by id, descending). `mode` "page":
    LIMIT/OFFSET with the count of all matches in each row (`total_`); "after": the rows after
    the cursor (`after_created_at`, `after_id`); "count": the count alone. Read at an instant,
    each pending row carries its sessions' latest `expires_at` (`attempts_end_`)."""
    t, s = transactions, payment_sessions
    types, statuses, lapse, has_from, has_to, as_of, mode = shape

    def value(name: str, type_: Any) -> sa.BindParameter:
        return sa.bindparam(name, type_=type_)

    conditions = [t.c.user_id == value("user_id", t.c.user_id.type)]
    if types:
        conditions.append(t.c.type.in_([value(f"type_in_{i}", t.c.type.type) for i in range(types)]))
    if statuses:
        conditions.append(t.c.status.in_([value(f"status_in_{i}", t.c.status.type) for i in range(statuses)]))
    if lapse != KEEP:  # a pending transaction has lapsed when it has sessions and none ends after as_of
        of_it = s.c.transaction_id == t.c.id
        has_sessions = sa.exists().where(of_it)
        live = sa.exists().where(of_it, s.c.expires_at > value("as_of", UtcDateTime()))
        lapsed = sa.and_(has_sessions, sa.not_(live))
        conditions.append(sa.or_(t.c.status != PENDING.value, lapsed if lapse == ONLY_LAPSED else sa.not_(lapsed)))
    if has_from:
        conditions.append(t.c.created_at >= value("date_from", UtcDateTime()))
    if has_to:
        conditions.append(t.c.created_at <= value("date_to", UtcDateTime()))
    count = sa.select(sa.func.count()).select_from(t).where(*conditions)
    if mode == "count":
        return count
    columns: list[Any] = [t]
    if as_of:
        attempts_end = sa.select(sa.func.max(s.c.expires_at)).where(s.c.transaction_id == t.c.id).scalar_subquery()
        columns.append(sa.type_coerce(sa.case((t.c.status == PENDING.value, attempts_end)), UtcDateTime())
                       .label("attempts_end_"))
    newest_first = (t.c.created_at.desc(), t.c.id.desc())
    limit = value("limit_", sa.Integer)
    if mode == "after":
        after = sa.tuple_(value("after_created_at", UtcDateTime()), value("after_id", t.c.id.type))
        return sa.select(*columns).where(*conditions, sa.tuple_(t.c.created_at, t.c.id) < after) \
            .order_by(*newest_first).limit(limit)
    return (sa.select(*columns, count.scalar_subquery().label("total_")).where(*conditions)
            .order_by(*newest_first).limit(limit).offset(value("offset_", sa.Integer)))


def _history(shape: HistoryShape) -> Prepared:
    return prepared(("history_read", shape), lambda dialect: _history_select(shape))


def _transaction_read(row: Mapping[str, Any], as_of: datetime | None) -> Transaction:
    """The row's transaction, as read at `as_of` (`ports.queries.read_at`: expired once its
    sessions' latest `expires_at`, `attempts_end_`, has passed)."""
    transaction = mapping.transaction_from_row(row)
    attempts_end = row["attempts_end_"] if as_of is not None else None
    if attempts_end is None or attempts_end > as_of or transaction.type is TransactionType.PLAN_RENEWAL:
        return transaction  # (a renewal stays payable until its grace ends: it never lapses)
    return lapsed(transaction, attempts_end)


def _ledger_select(mode: str) -> sa.Select:
    """A user's ledger lines, newest first, each with the balance right after it: a page
    (LIMIT/OFFSET, with the count of all lines, `total_`) or the lines below `after_id`."""
    led, m = receives_ledger, memberships
    user_id = sa.bindparam("user_id", type_=led.c.user_id.type)
    rows = sa.select(led).where(led.c.user_id == user_id).order_by(led.c.id.desc()) \
        .limit(sa.bindparam("limit_", type_=sa.Integer))
    if mode == "after":
        rows = rows.where(led.c.id < sa.bindparam("after_id", type_=led.c.id.type))
    else:
        rows = rows.offset(sa.bindparam("offset_", type_=sa.Integer))
    page = rows.cte("page")
    newer = led.alias("newer")
    balance = sa.select(m.c.allowance_remaining + m.c.purchased_remaining).where(m.c.user_id == user_id) \
        .scalar_subquery()
    above_page = sa.select(sa.func.coalesce(sa.func.sum(newer.c.delta), 0)).where(
        newer.c.user_id == user_id, newer.c.id > sa.select(sa.func.max(page.c.id)).scalar_subquery()).scalar_subquery()
    # The deltas of the page's newer lines: a running sum, newest first, less the line's own.
    within_page = sa.func.sum(page.c.delta).over(order_by=page.c.id.desc()) - page.c.delta
    columns: list[Any] = [page, (balance - above_page - within_page).label("balance_after_")]
    if mode == "page":
        columns.append(sa.select(sa.func.count()).select_from(led).where(led.c.user_id == user_id)
                       .scalar_subquery().label("total_"))
    return sa.select(*columns).order_by(page.c.id.desc())


def _ledger(mode: str) -> Prepared:
    return prepared(("ledger_lines", mode), lambda dialect: _ledger_select(mode))


_LEDGER_COUNT = prepared("ledger_count", lambda dialect: (
    sa.select(sa.func.count()).select_from(receives_ledger)
    .where(receives_ledger.c.user_id == sa.bindparam("user_id", type_=receives_ledger.c.user_id.type))))
_LEDGER_CURSOR = prepared("ledger_cursor", lambda dialect: (
    sa.select(receives_ledger.c.id)
    .where(receives_ledger.c.id == sa.bindparam("id", type_=receives_ledger.c.id.type),
           receives_ledger.c.user_id == sa.bindparam("user_id", type_=receives_ledger.c.user_id.type))))


def _ledger_line(row: Mapping[str, Any]) -> LedgerLine:
    return LedgerLine(ledger_id(row["id"]), mapping.ledger_entry_from_row(row), int(row["balance_after_"]))


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
        values = _history_values(user_id, query, offset_=query.offset)
        async with autocommit(self._database) as db:
            rows = await db.all(_history(_history_shape(query, "page")), **values)
            if rows:
                total = int(rows[0]["total_"])
            elif query.offset == 0:
                total = 0
            else:  # a page past the end: the total is still wanted
                total = int(await db.value(_history(_history_shape(query, "count")), **values))
        return [_transaction_read(row, query.as_of) for row in rows], total

    async def history_after(self, user_id: str, query: TransactionQuery,
                            starting_after: str) -> tuple[list[Transaction], bool] | None:
        async with autocommit(self._database) as db:
            cursor = await db.by_id(transactions, starting_after, user_id, False)
            if cursor is None:
                return None
            values = _history_values(user_id, query, after_created_at=cursor["created_at"], after_id=cursor["id"])
            values["limit_"] = query.limit + 1  # one more tells whether more follow
            rows = await db.all(_history(_history_shape(query, "after")), **values)
        return [_transaction_read(row, query.as_of) for row in rows[:query.limit]], len(rows) > query.limit

    async def membership(self, user_id: str) -> Membership | None:
        async with autocommit(self._database) as db:
            row = await db.one(select_by(memberships, "user_id"), user_id=user_id)
        return None if row is None else mapping.membership_from_row(row)

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        query = sa.select(receives_ledger).where(receives_ledger.c.user_id == user_id).order_by(receives_ledger.c.id)
        async with autocommit(self._database) as db:
            return [mapping.ledger_entry_from_row(row) for row in await db.fetch_all(query)]

    async def ledger_page(self, user_id: str, page: int, limit: int) -> tuple[list[LedgerLine], int]:
        async with autocommit(self._database) as db:
            rows = await db.all(_ledger("page"), user_id=user_id, limit_=limit, offset_=(page - 1) * limit)
            if rows:
                total = int(rows[0]["total_"])
            else:
                total = 0 if page == 1 else int(await db.value(_LEDGER_COUNT, user_id=user_id))
        return [_ledger_line(row) for row in rows], total

    async def ledger_after(self, user_id: str, starting_after: str,
                           limit: int) -> tuple[list[LedgerLine], bool] | None:
        sequence = ledger_sequence(starting_after)
        if sequence is None:
            return None
        async with autocommit(self._database) as db:
            if await db.one(_LEDGER_CURSOR, id=sequence, user_id=user_id) is None:
                return None
            rows = await db.all(_ledger("after"), user_id=user_id, after_id=sequence, limit_=limit + 1)
        return [_ledger_line(row) for row in rows[:limit]], len(rows) > limit

    async def refunds_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        async with autocommit(self._database) as db:
            rows = await db.all(_REFUNDS_PENDING, created_before=created_before, limit_=limit)
        return [mapping.refund_from_row(row) for row in rows]

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        r = payment_refunds
        query = sa.select(r).where(r.c.transaction_id == transaction_id).order_by(r.c.created_at, r.c.id)
        async with autocommit(self._database) as db:
            return [mapping.refund_from_row(row) for row in await db.fetch_all(query)]
