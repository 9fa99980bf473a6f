"""SQL repositories (`ports.repositories`) on `databases` + SQLAlchemy Core, for PostgreSQL and
SQLite alike. They run on the connection of the unit of work that owns them (`SqlContext`).

Beyond the port's contract:
- `add` inserts with `ON CONFLICT DO NOTHING … RETURNING`, so a taken unique key raises
  `DuplicateKeyError` without aborting the surrounding PostgreSQL transaction (the unit of work
  stays usable, as with the in-memory fake).
- `update` is conditional on the aggregate's `version` (`UPDATE … WHERE id = :id AND version = :v`)
  and bumps it, in the row and on the object (so the same object can be updated again in the same
  unit of work); `add` stores the version as it is. Both as the in-memory fake does. When no row
  matches, `StaleAggregateError` is raised: the aggregate was changed by another unit of work
  since it was loaded (a lost update was prevented: load it with `for_update=True`), or it was
  never stored.
- `for_update` is `SELECT … FOR UPDATE` on PostgreSQL; the sweeps use `FOR UPDATE SKIP LOCKED`.
  On SQLite both are no-ops: the unit of work holds the database's write lock (see
  `adapters.sql.unit_of_work`).
- On PostgreSQL, updates of rows the unit of work holds (locked by a `for_update` read, or
  inserted by it) and ledger rows are queued and sent together before the next read or at
  commit (`adapters.sql.batch`): they cannot lose a race, so they need not wait for an answer.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Select

from adapters.sql import mapping
from adapters.sql.batch import WriteBatch, combined_sql
from adapters.sql.statements import Prepared, bind_all, prepared
from adapters.sql.tables import (
    consumptions,
    memberships,
    payment_refunds,
    payment_sessions,
    processed_provider_events,
    receives_ledger,
    transactions,
)
from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.refund import Refund
from domain.session import PaymentSession, SessionStatus
from domain.transaction import PLAN_CHANGE_TYPES, Transaction, TransactionStatus
from ports.repositories import ConcurrentUpdateError, DuplicateKeyError, TransactionQuery

_PENDING = TransactionStatus.PENDING.value
_OPEN = SessionStatus.OPEN.value


class StaleAggregateError(ConcurrentUpdateError):
    """An update matched no row: the aggregate changed in another unit of work since it was
    loaded (a lost update was prevented), or it was never stored."""


def _insert(dialect: str, table: sa.Table) -> Any:
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _locked(dialect: str, query: Select, *, of: sa.Table, skip_locked: bool = False) -> Select:
    """`SELECT … FOR UPDATE` on PostgreSQL; SQLite's unit of work already holds the write lock."""
    return query.with_for_update(of=of, skip_locked=skip_locked) if dialect == "postgresql" else query


def _by(table: sa.Table, *columns: str, for_update: bool = False, order_by: tuple = ()) -> Prepared:
    """`SELECT * FROM table WHERE c1 = :c1 AND …` (locked when `for_update`), prepared once."""
    def build(dialect: str) -> Select:
        query = sa.select(table).where(*(table.c[name] == sa.bindparam(name) for name in columns))
        if order_by:
            query = query.order_by(*order_by)
        return _locked(dialect, query, of=table) if for_update else query
    return prepared(("by", table.name, columns, for_update, order_by), build, locks=table if for_update else None)


class SqlContext:
    """What the repositories of one unit of work share: its connection, the dialect, the
    aggregates stored through them (whose events the unit of work collects after commit), and,
    inside a PostgreSQL transaction (`batched`), the rows it holds and the writes it queued."""

    def __init__(self, connection: Any, dialect: str, *, batched: bool = False) -> None:
        self.connection = connection
        self.dialect = dialect
        self.touched: list[Any] = []
        self.batch = WriteBatch() if batched and dialect == "postgresql" else None
        self._held: set[tuple[str, Any]] = set()  # (table, primary key) locked or inserted here

    def hold(self, table: sa.Table, rows: list[Any]) -> None:
        """Note rows this unit of work has locked or inserted: their updates may be queued."""
        if self.batch is not None:
            key = table.primary_key.columns.values()[0].name
            self._held.update((table.name, row[key]) for row in rows)

    async def flush(self) -> None:
        """Send the queued writes (see `adapters.sql.batch`)."""
        if self.batch:
            await self.batch.flush(self.connection.raw_connection)

    async def write(self, statement: Prepared, **values: Any) -> None:
        """Run a write whose outcome nobody waits for: queued on PostgreSQL (see `flush`)."""
        if self.batch is None:
            await self.run(statement, **values)
        else:
            self.batch.add(statement.postgres()[0], statement.arguments(values))

    def insert(self, table: sa.Table) -> Any:
        return _insert(self.dialect, table)

    def locked(self, query: Select, *, of: sa.Table, skip_locked: bool = False) -> Select:
        return _locked(self.dialect, query, of=of, skip_locked=skip_locked)

    async def fetch_one(self, query: Any) -> Mapping[str, Any] | None:
        await self.flush()
        return await self.connection.fetch_one(query)

    async def fetch_all(self, query: Any) -> list[Mapping[str, Any]]:
        await self.flush()
        return await self.connection.fetch_all(query)

    async def fetch_val(self, query: Any) -> Any:
        await self.flush()
        return await self.connection.fetch_val(query)

    async def execute(self, query: Any) -> Any:
        await self.flush()
        return await self.connection.execute(query)

    # ------------------------------------------------------------------ prepared statements
    async def one(self, statement: Prepared, **values: Any) -> Mapping[str, Any] | None:
        if self.dialect == "postgresql":
            # A relaxed commit inside a unit of work would relax the whole transaction's commit.
            assert not (statement.relaxed_commit and self.batch is not None), "relaxed statement in a transaction"
            await self.flush()
            row = await self.connection.raw_connection.fetchrow(statement.postgres()[0], *statement.arguments(values))
        else:
            row = await self.connection.fetch_one(statement.bound(self.dialect, values))
        if statement.locks is not None and row is not None:
            self.hold(statement.locks, [row])
        return row

    async def all(self, statement: Prepared, **values: Any) -> list[Mapping[str, Any]]:
        if self.dialect == "postgresql":
            await self.flush()
            rows = await self.connection.raw_connection.fetch(statement.postgres()[0], *statement.arguments(values))
        else:
            rows = await self.connection.fetch_all(statement.bound(self.dialect, values))
        if statement.locks is not None:
            self.hold(statement.locks, rows)
        return rows

    async def by_id(self, table: sa.Table, id: str, user_id: str | None, for_update: bool) -> Any:
        """The row of `table` with this `id` (and owner, when `user_id` is given)."""
        if user_id is None:
            return await self.one(_by(table, "id", for_update=for_update), id=id)
        return await self.one(_by(table, "id", "user_id", for_update=for_update), id=id, user_id=user_id)

    async def run(self, statement: Prepared, **values: Any) -> None:
        if self.dialect == "postgresql":
            await self.flush()
            await self.connection.raw_connection.execute(statement.postgres()[0], *statement.arguments(values))
        else:
            await self.connection.execute(statement.bound(self.dialect, values))

    async def value(self, statement: Prepared, **values: Any) -> Any:
        row = await self.one(statement, **values)
        return None if row is None else row[0]

    # ------------------------------------------------------------------ aggregates
    @staticmethod
    def _insert_statement(table: sa.Table, columns: tuple[str, ...]) -> Prepared:
        key = table.primary_key.columns.values()[0]
        return prepared(("insert", table.name, columns), lambda dialect: (
            _insert(dialect, table).values(bind_all(columns)).on_conflict_do_nothing().returning(key)))

    def _inserted(self, table: sa.Table, row: dict[str, Any], aggregate: Any, stored: bool) -> None:
        if not stored:
            key = table.primary_key.columns.values()[0]
            raise DuplicateKeyError(f"{table.name}: a unique key of {row[key.name]!r} is taken")
        self.hold(table, [row])
        self.touched.append(aggregate)

    async def insert_aggregate(self, table: sa.Table, row: dict[str, Any], aggregate: Any) -> None:
        stored = await self.one(self._insert_statement(table, tuple(row)), **row) is not None
        self._inserted(table, row, aggregate, stored)

    async def insert_aggregates_then(self, inserts: list[tuple[sa.Table, dict[str, Any], Any]],
                                     then: Prepared, **then_values: Any) -> Any:
        """Insert new aggregates, all or none (`DuplicateKeyError` when a key is taken), and read
        `then`'s one value as the database was before them: in one statement on PostgreSQL, in
        a savepoint on SQLite. Only inside a unit of work that writes."""
        if self.batch is None:  # SQLite, whose unit of work holds the write lock: one after another
            value = await self.value(then, **then_values)
            await self._insert_all_or_none(inserts)
            return value
        statements = [(self._insert_statement(table, tuple(row)), row) for table, row, _ in inserts]
        parts = tuple((statement.postgres()[0], "count") for statement, _ in statements)
        arguments = [argument for statement, row in statements for argument in statement.arguments(row)]
        await self.flush()
        answer = await self.connection.raw_connection.fetchrow(
            combined_sql(parts + ((then.postgres()[0], "value"),)), *arguments, *then.arguments(then_values))
        stored = [count == 1 for count in list(answer.values())[:len(inserts)]]
        if not all(stored):  # all or none: take back what this statement did insert, then refuse
            for (table, row, _), inserted in zip(inserts, stored, strict=True):
                if inserted:
                    key = table.primary_key.columns.values()[0]
                    await self.connection.raw_connection.execute(
                        f"DELETE FROM {table.name} WHERE {key.name} = $1", row[key.name])
            table, row, aggregate = inserts[stored.index(False)]
            self._inserted(table, row, aggregate, False)
        for table, row, aggregate in inserts:
            self._inserted(table, row, aggregate, True)
        return answer[len(inserts)]

    async def _insert_all_or_none(self, inserts: list[tuple[sa.Table, dict[str, Any], Any]]) -> None:
        """Insert one after another inside a savepoint (none of them stays when one is refused)."""
        registered = len(self.touched)
        await self.execute("SAVEPOINT insert_aggregates")
        try:
            for table, row, aggregate in inserts:
                await self.insert_aggregate(table, row, aggregate)
        except DuplicateKeyError:
            await self.execute("ROLLBACK TO SAVEPOINT insert_aggregates")
            del self.touched[registered:]  # their events must not be published
            raise
        finally:
            await self.execute("RELEASE SAVEPOINT insert_aggregates")

    async def update_aggregate(self, table: sa.Table, row: dict[str, Any], aggregate: Any) -> None:
        key = table.primary_key.columns.values()[0]
        row = dict(row)
        key_value = row.pop(key.name)
        expected = aggregate.version
        row["version"] = expected + 1
        columns = tuple(row)
        statement = prepared(("update", table.name, columns), lambda dialect: (
            table.update().where(key == sa.bindparam("key_"), table.c.version == sa.bindparam("expected_"))
            .values(bind_all(columns)).returning(table.c.version)))
        held = (table.name, key_value)
        if self.batch is not None and held in self._held:
            if self.batch.holds(held):
                await self.flush()  # one batch never writes a row twice

            def check(count: int) -> None:
                if count != 1:  # cannot happen to a held row: a bug, not a race
                    raise StaleAggregateError(f"{table.name} {key_value!r} (held by this unit of work) "
                                              f"was not at version {expected}")
            self.batch.add(statement.postgres()[0], statement.arguments({"key_": key_value, "expected_": expected,
                                                                          **row}), key=held, check=check)
        elif await self.one(statement, key_=key_value, expected_=expected, **row) is None:
            stored = await self.fetch_val(sa.select(table.c.version).where(key == key_value))
            if stored is None:
                raise StaleAggregateError(f"{table.name} {key_value!r} cannot be updated: it was never stored")
            raise StaleAggregateError(
                f"{table.name} {key_value!r} was changed by another unit of work since it was loaded "
                f"(stored version {stored}, loaded {expected}); load it with for_update=True")
        aggregate.version = row["version"]
        self.touched.append(aggregate)


HistoryShape = tuple[int, int, bool, bool]  # how many types and statuses, whether from / to are set


def _history_shape(query: TransactionQuery) -> HistoryShape:
    return len(query.types), len(query.statuses), query.date_from is not None, query.date_to is not None


def _history_values(user_id: str, query: TransactionQuery) -> dict[str, Any]:
    values: dict[str, Any] = {"user_id": user_id, "date_from": query.date_from, "date_to": query.date_to,
                              "limit_": query.limit, "offset_": query.offset}
    values.update({f"type_{i}": x.value for i, x in enumerate(query.types)})
    values.update({f"status_{i}": x.value for i, x in enumerate(query.statuses)})
    return values


def _history_select(shape: HistoryShape, *, page: bool) -> Select:
    """A user's history of this shape: the page (newest first, ties by id descending) with the
    count of all matches in each row (`total_`, an uncorrelated subquery run once), or that
    count alone. Served by `ix_transactions_history` (user_id, created_at DESC, id DESC), or
    `ix_transactions_history_status` with a status filter; the count by an index-only scan."""
    t = transactions
    types, statuses, has_from, has_to = shape
    def value(name: str, column: sa.Column) -> sa.BindParameter:
        return sa.bindparam(name, type_=column.type)

    conditions = [t.c.user_id == value("user_id", t.c.user_id)]
    if types:
        conditions.append(t.c.type.in_([value(f"type_{i}", t.c.type) for i in range(types)]))
    if statuses:
        conditions.append(t.c.status.in_([value(f"status_{i}", t.c.status) for i in range(statuses)]))
    if has_from:
        conditions.append(t.c.created_at >= value("date_from", t.c.created_at))
    if has_to:
        conditions.append(t.c.created_at <= value("date_to", t.c.created_at))
    count = sa.select(sa.func.count()).select_from(t).where(*conditions)
    if not page:
        return count
    return (sa.select(t, count.scalar_subquery().label("total_")).where(*conditions)
            .order_by(t.c.created_at.desc(), t.c.id.desc())
            .limit(sa.bindparam("limit_", type_=sa.Integer)).offset(sa.bindparam("offset_", type_=sa.Integer)))


def _history(shape: HistoryShape, *, page: bool) -> Prepared:
    return prepared(("history", shape, page), lambda dialect: _history_select(shape, page=page))


def history_statements(user_id: str, query: TransactionQuery) -> tuple[Select, Select]:
    """The page (with its total) and the count that `list_for_user` runs, with the values bound
    (for EXPLAIN in `tests/bench/history_scale.py`)."""
    shape, values = _history_shape(query), _history_values(user_id, query)
    return (_history_select(shape, page=True).params(values), _history_select(shape, page=False).params(values))


_COUNT_PENDING = prepared("count_pending", lambda dialect: (
    sa.select(sa.func.count()).select_from(transactions)
    .where(transactions.c.user_id == sa.bindparam("user_id"), transactions.c.status == _PENDING)))


def _with_sessions(user_scoped: bool, for_update: bool) -> Prepared:
    """A transaction joined to its sessions (oldest first), columns prefixed `t_` and `s_`;
    locked transaction first, then the sessions in order, when `for_update`."""
    t, s = transactions, payment_sessions

    def build(dialect: str) -> Select:
        query = (sa.select(*(c.label(f"t_{c.name}") for c in t.c), *(c.label(f"s_{c.name}") for c in s.c))
                 .join_from(t, s, s.c.transaction_id == t.c.id).where(t.c.id == sa.bindparam("id"))
                 .order_by(s.c.created_at, s.c.id))
        if user_scoped:
            query = query.where(t.c.user_id == sa.bindparam("user_id"))
        return query.with_for_update(of=(t, s)) if for_update and dialect == "postgresql" else query
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
        shape, values = _history_shape(query), _history_values(user_id, query)
        rows = await self._c.all(_history(shape, page=True), **values)
        if rows:
            total = int(rows[0]["total_"])
        elif query.offset == 0:
            total = 0
        else:  # a page past the end: the total is still wanted
            total = int(await self._c.value(_history(shape, page=False), **values))
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


_ATTACH = prepared("attach_instructions", lambda dialect: (
    payment_sessions.update()
    .where(payment_sessions.c.id == sa.bindparam("id"), payment_sessions.c.status == _OPEN)
    .values({**bind_all(("payment_url", "qr_code", "provider_reference", "updated_at")),
             "version": payment_sessions.c.version + 1})
    .returning(payment_sessions.c.version)), relaxed_commit=True)  # if lost, the order is opened again


class SqlSessionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, session: PaymentSession) -> None:
        await self._c.insert_aggregate(payment_sessions, mapping.session_to_row(session), session)

    async def get(self, session_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> PaymentSession | None:
        row = await self._c.by_id(payment_sessions, session_id, user_id, for_update)
        return None if row is None else mapping.session_from_row(row)

    async def get_by_order_id(self, order_id: str, *, for_update: bool = False) -> PaymentSession | None:
        row = await self._c.one(_by(payment_sessions, "order_id", for_update=for_update), order_id=order_id)
        return None if row is None else mapping.session_from_row(row)

    async def update(self, session: PaymentSession) -> None:
        await self._c.update_aggregate(payment_sessions, mapping.session_to_row(session), session)

    async def attach_instructions(self, session: PaymentSession) -> bool:
        return await self._c.one(_ATTACH, id=session.id, payment_url=session.payment_url, qr_code=session.qr_code,
                                 provider_reference=session.provider_reference,
                                 updated_at=session.updated_at) is not None

    async def list_for_transaction(self, transaction_id: str, *, for_update: bool = False) -> list[PaymentSession]:
        s = payment_sessions
        statement = _by(s, "transaction_id", for_update=for_update, order_by=(s.c.created_at, s.c.id))
        return [mapping.session_from_row(row) for row in await self._c.all(statement, transaction_id=transaction_id)]

    async def list_due_for_check(self, now: datetime, limit: int) -> list[PaymentSession]:
        s = payment_sessions
        query = (sa.select(s).where(s.c.next_check_at.is_not(None), s.c.next_check_at <= now)
                 .order_by(s.c.next_check_at, s.c.id).limit(limit))
        query = self._c.locked(query, of=s, skip_locked=True)
        return [mapping.session_from_row(row) for row in await self._c.fetch_all(query)]

    async def list_due_for_expiry(self, now: datetime, limit: int) -> list[PaymentSession]:
        s = payment_sessions
        query = (sa.select(s).where(s.c.status == _OPEN, s.c.expires_at <= now)
                 .order_by(s.c.expires_at, s.c.id).limit(limit))
        query = self._c.locked(query, of=s, skip_locked=True)
        return [mapping.session_from_row(row) for row in await self._c.fetch_all(query)]


class SqlMembershipRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def get(self, user_id: str, *, for_update: bool = False) -> Membership | None:
        row = await self._c.one(_by(memberships, "user_id", for_update=for_update), user_id=user_id)
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

    async def _append_entries(self, membership: Membership) -> None:
        if membership.new_entries:
            rows = [mapping.ledger_entry_to_row(entry) for entry in membership.new_entries]
            columns = tuple(rows[0])
            statement = prepared(("ledger", len(rows), columns), lambda dialect: (
                receives_ledger.insert().values([bind_all(columns, f"_{i}") for i in range(len(rows))])))
            values = {f"{name}_{i}": value for i, row in enumerate(rows) for name, value in row.items()}
            await self._c.write(statement, **values)
            membership.new_entries.clear()

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        query = (sa.select(receives_ledger).where(receives_ledger.c.user_id == user_id)
                 .order_by(receives_ledger.c.id))
        return [mapping.ledger_entry_from_row(row) for row in await self._c.fetch_all(query)]


class SqlProcessedEventRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        t = processed_provider_events
        statement = prepared("processed_event", lambda dialect: (
            _insert(dialect, t).values(bind_all(("provider", "event_id", "processed_at")))
            .on_conflict_do_nothing().returning(t.c.event_id)))
        return await self._c.one(statement, provider=provider, event_id=event_id, processed_at=now) is not None


class SqlConsumptionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, user_id: str, reference: str, count: int, now: datetime) -> bool:
        t = consumptions
        statement = prepared("consumption", lambda dialect: (
            _insert(dialect, t).values(bind_all(("user_id", "reference", "count", "created_at")))
            .on_conflict_do_nothing().returning(t.c.reference)))
        return await self._c.one(statement, user_id=user_id, reference=reference, count=count,
                                 created_at=now) is not None


class SqlRefundRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, refund: Refund) -> None:
        await self._c.insert_aggregate(payment_refunds, mapping.refund_to_row(refund), refund)

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        row = await self._c.by_id(payment_refunds, refund_id, None, for_update)
        return None if row is None else mapping.refund_from_row(row)

    async def update(self, refund: Refund) -> None:
        await self._c.update_aggregate(payment_refunds, mapping.refund_to_row(refund), refund)

    async def get_by_refund_order_id(self, refund_order_id: str, *, for_update: bool = False) -> Refund | None:
        row = await self._c.one(_by(payment_refunds, "refund_order_id", for_update=for_update),
                                refund_order_id=refund_order_id)
        return None if row is None else mapping.refund_from_row(row)

    async def list_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        r = payment_refunds
        query = (sa.select(r).where(r.c.status == "pending", r.c.created_at <= created_before)
                 .order_by(r.c.created_at, r.c.id).limit(limit))
        return [mapping.refund_from_row(row) for row in await self._c.fetch_all(query)]

    async def list_for_transaction(self, transaction_id: str) -> list[Refund]:
        r = payment_refunds
        query = sa.select(r).where(r.c.transaction_id == transaction_id).order_by(r.c.created_at, r.c.id)
        return [mapping.refund_from_row(row) for row in await self._c.fetch_all(query)]
