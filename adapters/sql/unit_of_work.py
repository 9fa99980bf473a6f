"""The SQL unit of work (`ports.unit_of_work.UnitOfWork`): one connection and one database
transaction per `async with` block, rolled back unless `commit()` was called.

PostgreSQL: READ COMMITTED; `for_update` reads take row locks (`SELECT … FOR UPDATE`), so
read-modify-write sequences serialise per row across processes.

SQLite has no row locks. A unit of work takes the database's write lock when it starts
(`BEGIN IMMEDIATE`), so units of work that write never interleave: within a process they queue
on an asyncio lock (no busy-waiting), across processes on SQLite's busy timeout. Reads inside a
unit of work are therefore always current, and `for_update` is a no-op.
"""
from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from databases import Database

from adapters.sql.context import SqlContext
from adapters.sql.database import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SQLITE_CONNECTION_PRAGMAS,
    dedicated_connection,
    dialect_of,
)
from adapters.sql.executor import executor_for
from adapters.sql.repositories.consumptions import SqlConsumptionRepository
from adapters.sql.repositories.memberships import SqlMembershipRepository
from adapters.sql.repositories.processed_events import SqlProcessedEventRepository
from adapters.sql.repositories.refunds import SqlRefundRepository
from adapters.sql.repositories.sessions import SqlSessionRepository
from adapters.sql.repositories.transactions import SqlTransactionRepository
from domain.events import Event, SessionStatusChanged

log = logging.getLogger("payments.sql")

SESSION_CHANNEL = "payments_sessions"  # LISTENed to by adapters.sql.session_feed

_sqlite_locks: weakref.WeakKeyDictionary[Database, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def _sqlite_write_lock(database: Database) -> asyncio.Lock:
    """The in-process queue for SQLite's one writer (one per database and event loop)."""
    loop = asyncio.get_running_loop()
    entry = _sqlite_locks.get(database)
    if entry is None or entry[0] is not loop:
        entry = _sqlite_locks[database] = (loop, asyncio.Lock())
    return entry[1]


class DatabaseTransaction:
    """One connection and one open database transaction on it (see the module docstring)."""

    def __init__(self, database: Database, *, read_only: bool = False) -> None:
        self._database = database
        self._read_only = read_only
        self.dialect = dialect_of(database)
        self.connection: Any = None
        self._pg_transaction: Any = None
        self._nested: Any = None
        self._lock: asyncio.Lock | None = None

    async def begin(self) -> None:
        connection = dedicated_connection(self._database)
        if connection is None:  # force_rollback=True: a savepoint on the shared connection
            self.connection = self._database.connection()
            self._nested = self.connection.transaction()
            await self._nested.start()
            return
        if self._read_only:  # single statements in autocommit: no BEGIN, no write lock
            await connection.__aenter__()
            self.connection = connection
            if self.dialect == "sqlite":
                for pragma in SQLITE_CONNECTION_PRAGMAS:
                    await connection.execute(pragma)
            return
        if self.dialect == "sqlite":
            self._lock = _sqlite_write_lock(self._database)
            try:
                await asyncio.wait_for(self._lock.acquire(), SQLITE_BUSY_TIMEOUT_SECONDS)
            except TimeoutError:
                self._lock = None
                raise TimeoutError(
                    f"no SQLite write lock within {SQLITE_BUSY_TIMEOUT_SECONDS:g} s: is a unit of work "
                    "open inside another one in the same task?") from None
        try:
            await connection.__aenter__()
            self.connection = connection
            if self.dialect == "sqlite":
                for pragma in SQLITE_CONNECTION_PRAGMAS:
                    await connection.execute(pragma)
                await connection.execute("BEGIN IMMEDIATE")
            else:
                self._pg_transaction = connection.raw_connection.transaction()
                await self._pg_transaction.start()
        except BaseException:
            await self._close()
            raise

    async def commit(self) -> None:
        try:
            if self._nested is not None:
                await self._nested.commit()
            elif self._pg_transaction is not None:
                await self._pg_transaction.commit()  # a failed commit (deferred FK) rolls back
            else:
                try:
                    await self.connection.execute("COMMIT")
                except BaseException:
                    await self._sqlite_rollback()  # a failed COMMIT leaves SQLite's transaction open
                    raise
        finally:
            await self._close()

    async def rollback(self) -> None:
        try:
            if self._nested is not None:
                await self._nested.rollback()
            elif self._pg_transaction is not None:
                await self._pg_transaction.rollback()
            elif self.connection is not None and not self._read_only:
                await self._sqlite_rollback()
        finally:
            await self._close()

    async def _sqlite_rollback(self) -> None:
        raw = self.connection.raw_connection
        if raw.in_transaction:
            await self.connection.execute("ROLLBACK")

    async def _close(self) -> None:
        try:
            if self.connection is not None and self._nested is None:
                await self.connection.__aexit__()
        finally:
            self.connection = self._pg_transaction = self._nested = None
            if self._lock is not None:
                self._lock.release()
                self._lock = None


@asynccontextmanager
async def database_transaction(database: Database) -> AsyncIterator[SqlContext]:
    """A short transaction outside any unit of work: committed when the block ends normally,
    rolled back when it raises."""
    transaction = DatabaseTransaction(database)
    await transaction.begin()
    try:
        yield SqlContext(executor_for(transaction.connection, transaction.dialect))
    except BaseException:
        await transaction.rollback()
        raise
    await transaction.commit()


_NOTIFY = "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id"


def _notify_session_changes(context: SqlContext) -> None:
    """Tell every process's session feed which sessions this transaction changed: NOTIFY is
    delivered at commit, and only if it commits (see `adapters.sql.session_feed`). Queued with
    the unit of work's last writes."""
    # A session that was just opened is skipped: nobody can be waiting on an id nobody knows yet.
    changed = sorted({event.session_id for aggregate in context.touched for event in aggregate.events
                      if isinstance(event, SessionStatusChanged) and event.status != "open"})
    if changed and context.batch is not None:
        context.batch.add(_NOTIFY, [SESSION_CHANNEL, changed], check=_any_count)


def _any_count(count: int) -> None:
    """pg_notify returns a row per session; there is nothing to check."""


@asynccontextmanager
async def autocommit(database: Database) -> AsyncIterator[SqlContext]:
    """A connection of its own with no transaction around it: for single statements, each
    atomic on its own (no BEGIN/COMMIT round trips)."""
    transaction = DatabaseTransaction(database, read_only=True)
    await transaction.begin()
    try:
        yield SqlContext(executor_for(transaction.connection, transaction.dialect))
    finally:
        await transaction.rollback()


class SqlUnitOfWork:
    """`ports.unit_of_work.UnitOfWork` over a `databases.Database` (see the module docstring)."""

    def __init__(self, database: Database, *, read_only: bool = False, single_statement: bool = False) -> None:
        self._database = database
        self._read_only = read_only
        self._single_statement = single_statement
        self._transaction: DatabaseTransaction | None = None
        self._context: SqlContext | None = None
        self._events: list[Event] = []

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._transaction is not None:
            raise RuntimeError("a unit of work is used for one block at a time")
        # Both modes run statements outside a transaction: each one commits on its own.
        transaction = DatabaseTransaction(self._database, read_only=self._read_only or self._single_statement)
        await transaction.begin()
        self._transaction = transaction
        self._context = context = SqlContext(executor_for(
            transaction.connection, transaction.dialect, batched=not (self._read_only or self._single_statement)))
        self.transactions = SqlTransactionRepository(context)
        self.sessions = SqlSessionRepository(context)
        self.memberships = SqlMembershipRepository(context)
        self.processed_events = SqlProcessedEventRepository(context)
        self.consumptions = SqlConsumptionRepository(context)
        self.refunds = SqlRefundRepository(context)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            await self.rollback()
            return
        try:
            await self.rollback()
        except Exception:  # the block's own exception is the one to see (the connection may be gone)
            log.warning("rollback after %s failed", exc_type.__name__, exc_info=True)

    async def commit(self) -> None:
        if self._transaction is None or self._context is None:
            raise RuntimeError("commit() outside `async with uow:`")
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        transaction, context = self._transaction, self._context
        self._transaction = self._context = None
        if self._single_statement:
            await transaction.rollback()  # nothing is open: this only hands the connection back
        else:
            try:
                _notify_session_changes(context)
                await context.flush()
            except BaseException:
                await transaction.rollback()
                raise
            await transaction.commit()
        for aggregate in context.touched:
            self._events.extend(aggregate.events)
            aggregate.events.clear()

    async def rollback(self) -> None:
        transaction, self._transaction, self._context = self._transaction, None, None
        if transaction is not None:
            await transaction.rollback()

    def collect_events(self) -> list[Event]:
        events, self._events = self._events, []
        return events


def sql_uow_factory(database: Database) -> Callable[..., SqlUnitOfWork]:
    """A `UnitOfWorkFactory`: a new `SqlUnitOfWork` over `database` per call."""

    def factory(*, read_only: bool = False, single_statement: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(database, read_only=read_only, single_statement=single_statement)

    factory.database = database  # type: ignore[attr-defined]
    return factory
