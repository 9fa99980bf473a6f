"""Executors: how the statements of one connection are run, the one place where PostgreSQL and
SQLite are executed differently. `SqlContext` (`adapters.sql.context`) and the repositories see
only the `Executor` protocol.

- `AsyncpgExecutor` (PostgreSQL): prepared statements run on the raw asyncpg connection (their
  SQL compiled once, `adapters.sql.statements`); inside a transaction that writes it has a
  `batch` (`adapters.sql.batch`), flushed before anything else is sent.
- `DatabasesExecutor` (SQLite): everything goes through the `databases` connection, prepared
  statements with their values bound. It has no batch.

Plain SQLAlchemy queries (the rarer, dynamic ones) go through the `databases` connection on
both, which compiles them and applies SQLAlchemy's type processing to their rows.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from adapters.sql.batch import WriteBatch
from adapters.sql.statements import Dialect, PostgresqlDialect, Prepared, SqliteDialect

if TYPE_CHECKING:
    from databases.core import Connection

Row = Mapping[str, Any]


class Executor(Dialect, Protocol):
    """Runs statements on one connection. `insert` and `locked` build statements for its
    dialect (`adapters.sql.statements.Dialect`)."""

    batch: WriteBatch | None  # queued writes: PostgreSQL only, inside a transaction that writes

    # prepared statements, with their values by name
    async def one(self, statement: Prepared, values: Mapping[str, Any]) -> Row | None: ...
    async def all(self, statement: Prepared, values: Mapping[str, Any]) -> list[Row]: ...
    async def run(self, statement: Prepared, values: Mapping[str, Any]) -> None: ...

    # plain SQLAlchemy queries (or SQL text), compiled on each call
    async def fetch_one(self, query: Any) -> Row | None: ...
    async def fetch_all(self, query: Any) -> list[Row]: ...
    async def execute(self, query: Any) -> Any: ...


class AsyncpgExecutor(PostgresqlDialect):
    """PostgreSQL: see the module docstring. Every call first sends the queued writes."""

    def __init__(self, connection: Connection, *, batched: bool = False) -> None:
        self._connection = connection
        self._raw = connection.raw_connection  # acquired for as long as this executor is used
        self.batch = WriteBatch(self._raw) if batched else None

    async def one(self, statement: Prepared, values: Mapping[str, Any]) -> Row | None:
        # A relaxed commit inside a unit of work would relax the whole transaction's commit.
        assert not (statement.relaxed_commit and self.batch is not None), "relaxed statement in a transaction"
        if self.batch:
            await self.batch.flush()
        return await self._raw.fetchrow(statement.postgres()[0], *statement.arguments(values))

    async def all(self, statement: Prepared, values: Mapping[str, Any]) -> list[Row]:
        if self.batch:
            await self.batch.flush()
        return await self._raw.fetch(statement.postgres()[0], *statement.arguments(values))

    async def run(self, statement: Prepared, values: Mapping[str, Any]) -> None:
        if self.batch:
            await self.batch.flush()
        await self._raw.execute(statement.postgres()[0], *statement.arguments(values))

    async def fetch_one(self, query: Any) -> Row | None:
        if self.batch:
            await self.batch.flush()
        return await self._connection.fetch_one(query)

    async def fetch_all(self, query: Any) -> list[Row]:
        if self.batch:
            await self.batch.flush()
        return await self._connection.fetch_all(query)

    async def execute(self, query: Any) -> Any:
        if self.batch:
            await self.batch.flush()
        return await self._connection.execute(query)


class DatabasesExecutor(SqliteDialect):
    """SQLite: see the module docstring."""

    batch: WriteBatch | None = None

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    async def one(self, statement: Prepared, values: Mapping[str, Any]) -> Row | None:
        return await self._connection.fetch_one(statement.bound(SqliteDialect, values))

    async def all(self, statement: Prepared, values: Mapping[str, Any]) -> list[Row]:
        return await self._connection.fetch_all(statement.bound(SqliteDialect, values))

    async def run(self, statement: Prepared, values: Mapping[str, Any]) -> None:
        await self._connection.execute(statement.bound(SqliteDialect, values))

    async def fetch_one(self, query: Any) -> Row | None:
        return await self._connection.fetch_one(query)

    async def fetch_all(self, query: Any) -> list[Row]:
        return await self._connection.fetch_all(query)

    async def execute(self, query: Any) -> Any:
        return await self._connection.execute(query)


def executor_for(connection: Connection, dialect: str, *, batched: bool = False) -> Executor:
    """The executor of `connection` (a `databases` connection, acquired) for `dialect`; with a
    write batch when `batched` (PostgreSQL only: see `adapters.sql.batch`)."""
    if dialect == PostgresqlDialect.name:
        return AsyncpgExecutor(connection, batched=batched)
    return DatabasesExecutor(connection)
