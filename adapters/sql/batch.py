"""Writes sent to PostgreSQL together, as one statement of data-modifying CTEs: the batching
of the asyncpg executor (`adapters.sql.executor`), and the only place that builds such statements.

Why: every statement is a round trip to the server, and a unit of work waits for each answer.
A write whose answer nobody needs before the commit need not be waited for: it is queued, and
the queue is sent as one statement (`WITH w0 AS (UPDATE …), w1 AS (INSERT …) SELECT …`) before
the next read and at commit. A use case that locks a membership, updates it, appends its ledger
rows and notifies the session feed then costs one round trip for all of its writes.

What can be queued: writes that cannot fail for concurrency reasons, inside a transaction.
- An update of a row the unit of work holds (locked by `SELECT … FOR UPDATE`, or inserted by
  it): nobody else can change that row before the commit, so its version check cannot fail
  (it is still made: a queued update returns its row and the batch checks it touched one).
- The ledger rows appended with such an update (plain INSERTs with no unique key to take).
- The unit of work's NOTIFY (`adapters.sql.unit_of_work`).

What cannot be queued: anything whose answer the caller acts on before the commit.
- Reads (they flush the queue first, so a read inside the unit of work sees every earlier write).
- Inserts of aggregates (a taken key must raise `DuplicateKeyError` at once; but see below).
- Updates of rows the unit of work does not hold: they can lose a race, which must raise
  `StaleAggregateError` at once.
- Anything outside a transaction (autocommit and read-only units of work have no commit to
  wait for: their statements run one by one), and `relaxed_commit` statements (which are
  autocommit by definition). SQLite has no batch: its statements are local calls.

The statements of one batch see the same snapshot, so a row is never written twice in one batch
(a second write to a queued row flushes the first: `holds`).

The same CTE machinery sends inserts that must be stored all or none together with a read of
the database as it was before them (`insert_all_then`: a transaction with its first session and
the count of the user's pending transactions): one round trip instead of three. That one is not
queued: its answer is awaited.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

if TYPE_CHECKING:
    import asyncpg

    from adapters.sql.statements import Prepared

_PARAMETER = re.compile(r"\$(\d+)")
_combined: dict[tuple[tuple[str, str | None], ...], str] = {}


def combined_sql(parts: tuple[tuple[str, str | None], ...]) -> str:
    """One statement running every `(sql, answer)` part as a CTE and answering one row with, per
    part in order, the number of rows it returned (`answer` "count"), its one value ("value"), or
    nothing (None). Cached: a use case sends the same shapes again and again."""
    found = _combined.get(parts)
    if found is None:
        ctes, answers, offset = [], [], 0
        for index, (sql, answer) in enumerate(parts):
            numbers = [int(n) for n in _PARAMETER.findall(sql)]
            ctes.append(f"w{index} AS ({_PARAMETER.sub(lambda m: f'${int(m.group(1)) + offset}', sql)})")
            if answer == "count":
                answers.append(f"(SELECT count(*) FROM w{index})")
            elif answer == "value":
                answers.append(f"(SELECT * FROM w{index})")
            offset += max(numbers, default=0)
        found = _combined[parts] = f"WITH {', '.join(ctes)} SELECT {', '.join(answers) or 'NULL'}"
    return found


class WriteBatch:
    """Queued writes of one PostgreSQL transaction, sent on its raw asyncpg `connection`."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self._connection = connection
        self._parts: list[tuple[str, str | None]] = []
        self._arguments: list[Any] = []
        self._checks: list[Callable[[int], None]] = []  # one per returning part: called with its row count
        self._keys: set[Any] = set()

    def __bool__(self) -> bool:
        return bool(self._parts)

    def holds(self, key: Any) -> bool:
        return key in self._keys

    def add(self, sql: str, arguments: list[Any], *, key: Any = None,
            check: Callable[[int], None] | None = None) -> None:
        """Queue `sql` with its `$n` `arguments`. `check` gets the number of rows it returned."""
        self._parts.append((sql, None if check is None else "count"))
        self._arguments.extend(arguments)
        if check is not None:
            self._checks.append(check)
        if key is not None:
            self._keys.add(key)

    def queue(self, statement: Prepared, values: Mapping[str, Any], *, key: Any = None,
              check: Callable[[int], None] | None = None) -> None:
        """`add` for a prepared statement and its named `values`."""
        self.add(statement.postgres()[0], statement.arguments(values), key=key, check=check)

    async def flush(self) -> None:
        """Send the queued writes (one round trip) and run their checks."""
        if not self._parts:
            return
        connection = self._connection
        parts, arguments, checks = tuple(self._parts), self._arguments, self._checks
        self._parts, self._arguments, self._checks, self._keys = [], [], [], set()
        if len(parts) == 1 and not checks:
            await connection.execute(parts[0][0], *arguments)
            return
        if len(parts) == 1:
            counts = [len(await connection.fetch(parts[0][0], *arguments))]
        else:
            row = await connection.fetchrow(combined_sql(parts), *arguments)
            counts = [] if row is None else [value for value in row.values() if value is not None]
        for check, count in zip(checks, counts, strict=True):
            check(count)

    async def insert_all_then(self, inserts: list[tuple[sa.Table, Prepared, Mapping[str, Any]]],
                              then: Prepared, then_values: Mapping[str, Any]) -> tuple[int | None, Any]:
        """Run each `(table, statement, row)` insert (an `INSERT … ON CONFLICT DO NOTHING
        RETURNING`) and `then` (one value, read as the database was before the inserts) in one
        statement, after the queued writes. All or none: when an insert was refused, those that
        were stored are deleted again. Answers the index of the first refused insert (or None)
        and `then`'s value."""
        parts = tuple((statement.postgres()[0], "count") for _, statement, _ in inserts)
        arguments = [argument for _, statement, row in inserts for argument in statement.arguments(row)]
        await self.flush()
        answer = await self._connection.fetchrow(
            combined_sql(parts + ((then.postgres()[0], "value"),)), *arguments, *then.arguments(then_values))
        stored = [count == 1 for count in list(answer.values())[:len(inserts)]]
        if all(stored):
            return None, answer[len(inserts)]
        for (table, _, row), inserted in zip(inserts, stored, strict=True):  # take back what was stored
            if inserted:
                key = table.primary_key.columns.values()[0]
                await self._connection.execute(f"DELETE FROM {table.name} WHERE {key.name} = $1", row[key.name])
        return stored.index(False), answer[len(inserts)]
