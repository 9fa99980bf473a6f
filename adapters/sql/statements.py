"""Statements built once and compiled once: the SQL adapter's hot path.

`databases` compiles a SQLAlchemy construct on every execution, and building one costs as much
again; for a one-row read or write that was most of the CPU of a request. A `Prepared` holds a
statement per dialect, built once with named bind parameters; on PostgreSQL it is compiled once
to `$n` SQL and run on the raw asyncpg connection (which also caches the server-side prepared
statement), and on SQLite it goes through `databases` with its values bound, as before (the two
executors of `adapters.sql.executor`). A statement is built for a `Dialect`, whose `insert` (with
ON CONFLICT) and `locked` (FOR UPDATE) are all that the two dialects build differently.

A write that is run on its own (autocommit) and that a retry can always redo may be prepared
with `relaxed_commit`: on PostgreSQL its commit then does not wait for the WAL to reach the
disk (`synchronous_commit = off`, for that one statement's transaction only). A crash can lose
the last fraction of a second of such writes, never anything committed after them, and never
breaks consistency. The writes that make a payment or an order exist are never relaxed. (A
relaxed statement that writes no row does not evaluate the setting, and has nothing to flush.)

The raw asyncpg path skips SQLAlchemy's type processing, which on PostgreSQL has nothing to do
for this schema: values are plain str/int/bytes and aware datetimes, and asyncpg returns
`timestamptz` as aware UTC datetimes.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql.asyncpg import dialect as AsyncpgDialect
from sqlalchemy.sql import Select, visitors

_PG_DIALECT = AsyncpgDialect()


class Dialect(Protocol):
    """What building a statement needs to know of the database it is for: the argument of a
    `Prepared`'s `build`, and the statement-building half of an executor
    (`adapters.sql.executor`)."""

    name: ClassVar[str]  # "postgresql" or "sqlite"

    @staticmethod
    def insert(table: sa.Table) -> Any:
        """`INSERT INTO table` with `.on_conflict_do_nothing()`."""

    @staticmethod
    def locked(query: Select, *, of: Any, skip_locked: bool = False) -> Select:
        """`query` taking row locks on `of` (a table or a tuple of them)."""


class PostgresqlDialect:
    name = "postgresql"
    insert = staticmethod(postgresql.insert)

    @staticmethod
    def locked(query: Select, *, of: Any, skip_locked: bool = False) -> Select:
        """`SELECT … FOR UPDATE [SKIP LOCKED]`."""
        return query.with_for_update(of=of, skip_locked=skip_locked)


class SqliteDialect:
    name = "sqlite"
    insert = staticmethod(sqlite.insert)

    @staticmethod
    def locked(query: Select, *, of: Any, skip_locked: bool = False) -> Select:
        """`query` as it is: SQLite has no row locks, its unit of work holds the database's write
        lock (see `adapters.sql.unit_of_work`)."""
        return query


class Prepared:
    """`build(dialect)` makes the statement for a `Dialect` (`PostgresqlDialect` or
    `SqliteDialect`), with `sa.bindparam`s for the values that change between calls."""

    def __init__(self, build: Callable[[type[Dialect]], Any], locks: sa.Table | None = None,
                 relaxed_commit: bool = False) -> None:
        self._build = build
        self.locks = locks  # the table whose returned rows the statement locks (FOR UPDATE)
        self.relaxed_commit = relaxed_commit
        self._statements: dict[str, Any] = {}
        self._postgres: tuple[str, tuple[str, ...], Mapping[str, Any]] | None = None

    def statement(self, dialect: type[Dialect]) -> Any:
        found = self._statements.get(dialect.name)
        if found is None:
            found = self._statements[dialect.name] = self._build(dialect)
        return found

    def postgres(self) -> tuple[str, tuple[str, ...], Mapping[str, Any]]:
        """The SQL with `$n` parameters, their names in order, and the values of constants."""
        if self._postgres is None:
            compiled = self.statement(PostgresqlDialect).compile(
                dialect=_PG_DIALECT, compile_kwargs={"render_postcompile": True})
            sql = str(compiled)
            if self.relaxed_commit:  # a data-modifying statement with RETURNING, run in autocommit
                sql = (f"WITH w AS ({sql}) SELECT w.* FROM w, "
                       "(SELECT set_config('synchronous_commit', 'off', true)) AS relaxed_commit")
            self._postgres = (sql, tuple(compiled.positiontup or ()), dict(compiled.params))
        return self._postgres

    def bound(self, dialect: type[Dialect], values: Mapping[str, Any]) -> Any:
        """The statement for `dialect` with `values` bound (for execution through `databases`);
        what `ClauseElement.params()` does, which SQLAlchemy 2 refuses for INSERT and UPDATE."""
        def visit_bindparam(bind: Any) -> None:
            if bind.key in values:
                bind.value = values[bind.key]
                bind.required = False
        return visitors.cloned_traverse(self.statement(dialect), {"maintain_key": True, "detect_subquery_cols": True},
                                        {"bindparam": visit_bindparam})

    def arguments(self, values: Mapping[str, Any]) -> list[Any]:
        _, names, constants = self.postgres()
        return [values[name] if name in values else constants[name] for name in names]


_cache: dict[Any, Prepared] = {}


def prepared(key: Any, build: Callable[[type[Dialect]], Any], locks: sa.Table | None = None,
             relaxed_commit: bool = False) -> Prepared:
    """The `Prepared` registered under `key`, made with `build` the first time."""
    found = _cache.get(key)
    if found is None:
        found = _cache[key] = Prepared(build, locks, relaxed_commit)
    return found


def bind_all(names: tuple[str, ...], suffix: str = "") -> dict[str, Any]:
    """`{name: bindparam(name + suffix)}` for `.values(...)`."""
    return {name: sa.bindparam(name + suffix) for name in names}
