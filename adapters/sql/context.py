"""The execution context that the SQL repositories of one unit of work share (`SqlContext`): its
executor (`adapters.sql.executor`), the aggregates stored through it, the rows it holds, and how
an aggregate is inserted and updated (`StaleAggregateError`).

How aggregates are stored, beyond the repository ports' contract:
- `insert_aggregate` inserts with `ON CONFLICT DO NOTHING … RETURNING`, so a taken unique key
  raises `DuplicateKeyError` without aborting the surrounding PostgreSQL transaction (the unit
  of work stays usable, as with the in-memory fake).
- `update_aggregate` is conditional on the aggregate's `version` (`UPDATE … WHERE id = :id AND
  version = :v`) and bumps it, in the row and on the object (so the same object can be updated
  again in the same unit of work); an insert stores the version as it is. Both as the in-memory
  fake does. When no row matches, `StaleAggregateError` is raised: the aggregate was changed by
  another unit of work since it was loaded (a lost update was prevented: load it with
  `for_update=True`), or it was never stored.
- `for_update` reads are `SELECT … FOR UPDATE` on PostgreSQL; the sweeps use `FOR UPDATE SKIP
  LOCKED`. On SQLite both are no-ops: the unit of work holds the database's write lock (see
  `adapters.sql.unit_of_work`).
- On PostgreSQL, updates of rows the unit of work holds (locked by a `for_update` read, or
  inserted by it) and ledger rows are queued and sent together before the next read or at
  commit (`adapters.sql.batch`): they cannot lose a race, so they need not wait for an answer.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql import Select

from adapters.sql.executor import Executor
from adapters.sql.statements import Dialect, Prepared, bind_all, prepared
from domain.events import Event
from ports.repositories import ConcurrentUpdateError, DuplicateKeyError


class StaleAggregateError(ConcurrentUpdateError):
    """An update matched no row: the aggregate changed in another unit of work since it was
    loaded (a lost update was prevented), or it was never stored."""


def select_by(table: sa.Table, *columns: str, for_update: bool = False, order_by: tuple = ()) -> Prepared:
    """`SELECT * FROM table WHERE c1 = :c1 AND …` (locked when `for_update`), prepared once."""
    def build(dialect: type[Dialect]) -> Select:
        query = sa.select(table).where(*(table.c[name] == sa.bindparam(name) for name in columns))
        if order_by:
            query = query.order_by(*order_by)
        return dialect.locked(query, of=table) if for_update else query
    return prepared(("by", table.name, columns, for_update, order_by), build, locks=table if for_update else None)


class SqlContext:
    """What the repositories of one unit of work share: its executor, the aggregates stored
    through them (whose events the unit of work collects after commit), and, inside a PostgreSQL
    transaction (`batch`), the rows it holds and the writes it queued."""

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.batch = executor.batch
        self.touched: list[Any] = []
        self.snapshots: dict[str, dict[str, Any]] = {}  # session id -> its row as this unit of work knows it
        self._held: set[tuple[str, Any]] = set()  # (table, primary key) locked or inserted here

    def recorded_events(self) -> list[Event]:
        """The events the aggregates stored through this context recorded (a transaction's with its
        sessions'), each once, in order; nothing is cleared (see `take_events`)."""
        seen: set[int] = set()
        found: list[Event] = []
        for aggregate in self.touched:
            for owner in (aggregate, *getattr(aggregate, "sessions", ())):
                if id(owner) not in seen:
                    seen.add(id(owner))
                    found.extend(owner.events)
        return found

    def take_events(self) -> list[Event]:
        """`recorded_events`, then cleared from the aggregates (handed out once, after commit)."""
        found = self.recorded_events()
        for aggregate in self.touched:
            for owner in (aggregate, *getattr(aggregate, "sessions", ())):
                owner.events.clear()
        return found

    def hold(self, table: sa.Table, rows: list[Any]) -> None:
        """Note rows this unit of work has locked or inserted: their updates may be queued."""
        if self.batch is not None:
            key = table.primary_key.columns.values()[0].name
            self._held.update((table.name, row[key]) for row in rows)

    async def flush(self) -> None:
        """Send the queued writes (see `adapters.sql.batch`)."""
        if self.batch:
            await self.batch.flush()

    async def write(self, statement: Prepared, **values: Any) -> None:
        """Run a write whose outcome nobody waits for: queued on PostgreSQL (see `flush`)."""
        if self.batch is None:
            await self.run(statement, **values)
        else:
            self.batch.queue(statement, values)

    def insert(self, table: sa.Table) -> Any:
        return self.executor.insert(table)

    def locked(self, query: Select, *, of: sa.Table, skip_locked: bool = False) -> Select:
        return self.executor.locked(query, of=of, skip_locked=skip_locked)

    # ------------------------------------------------------------------ plain queries
    async def fetch_one(self, query: Any) -> Mapping[str, Any] | None:
        return await self.executor.fetch_one(query)

    async def fetch_all(self, query: Any) -> list[Mapping[str, Any]]:
        return await self.executor.fetch_all(query)

    async def fetch_val(self, query: Any) -> Any:
        row = await self.executor.fetch_one(query)
        return None if row is None else row[0]

    async def execute(self, query: Any) -> Any:
        return await self.executor.execute(query)

    # ------------------------------------------------------------------ prepared statements
    async def one(self, statement: Prepared, **values: Any) -> Mapping[str, Any] | None:
        row = await self.executor.one(statement, values)
        if statement.locks is not None and row is not None:
            self.hold(statement.locks, [row])
        return row

    async def all(self, statement: Prepared, **values: Any) -> list[Mapping[str, Any]]:
        rows = await self.executor.all(statement, values)
        if statement.locks is not None:
            self.hold(statement.locks, rows)
        return rows

    async def by_id(self, table: sa.Table, id: str, user_id: str | None, for_update: bool) -> Any:
        """The row of `table` with this `id` (and owner, when `user_id` is given)."""
        if user_id is None:
            return await self.one(select_by(table, "id", for_update=for_update), id=id)
        return await self.one(select_by(table, "id", "user_id", for_update=for_update), id=id, user_id=user_id)

    async def run(self, statement: Prepared, **values: Any) -> None:
        await self.executor.run(statement, values)

    async def value(self, statement: Prepared, **values: Any) -> Any:
        row = await self.one(statement, **values)
        return None if row is None else row[0]

    # ------------------------------------------------------------------ aggregates
    @staticmethod
    def _insert_statement(table: sa.Table, columns: tuple[str, ...]) -> Prepared:
        key = table.primary_key.columns.values()[0]
        return prepared(("insert", table.name, columns), lambda dialect: (
            dialect.insert(table).values(bind_all(columns)).on_conflict_do_nothing().returning(key)))

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
        `then`'s one value as the database was before them: in one statement on PostgreSQL
        (`WriteBatch.insert_all_then`), in a savepoint on SQLite. Only inside a unit of work that
        writes."""
        if self.batch is None:  # SQLite, whose unit of work holds the write lock: one after another
            value = await self.value(then, **then_values)
            await self._insert_all_or_none(inserts)
            return value
        statements = [(table, self._insert_statement(table, tuple(row)), row) for table, row, _ in inserts]
        refused, value = await self.batch.insert_all_then(statements, then, then_values)
        if refused is not None:
            table, row, aggregate = inserts[refused]
            self._inserted(table, row, aggregate, False)
        for table, row, aggregate in inserts:
            self._inserted(table, row, aggregate, True)
        return value

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
            self.batch.queue(statement, {"key_": key_value, "expected_": expected, **row}, key=held, check=check)
        elif await self.one(statement, key_=key_value, expected_=expected, **row) is None:
            stored = await self.fetch_val(sa.select(table.c.version).where(key == key_value))
            if stored is None:
                raise StaleAggregateError(f"{table.name} {key_value!r} cannot be updated: it was never stored")
            raise StaleAggregateError(
                f"{table.name} {key_value!r} was changed by another unit of work since it was loaded "
                f"(stored version {stored}, loaded {expected}); load it with for_update=True")
        aggregate.version = row["version"]
        self.touched.append(aggregate)
