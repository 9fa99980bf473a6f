"""Connections and database transactions of the SQL adapter: a unit of work's connection with its
transaction (`DatabaseTransaction`), a short transaction outside any unit of work
(`database_transaction`), and a connection in autocommit for single statements (`autocommit`).

PostgreSQL: READ COMMITTED; `for_update` reads take row locks (`SELECT … FOR UPDATE`), so
read-modify-write sequences serialise per row across processes.

SQLite has no row locks. A transaction takes the database's write lock when it starts
(`BEGIN IMMEDIATE`), so transactions that write never interleave: within a process they queue
on an asyncio lock (no busy-waiting), across processes on SQLite's busy timeout. Reads inside a
transaction are therefore always current, and `for_update` is a no-op.
"""
from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.sql.context import SqlContext
from adapters.sql.database import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SQLITE_CONNECTION_PRAGMAS,
    PaymentsDatabase,
    dialect_of,
)
from adapters.sql.executor import executor_for

_sqlite_locks: weakref.WeakKeyDictionary[PaymentsDatabase, tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = (
    weakref.WeakKeyDictionary())


def _sqlite_write_lock(database: PaymentsDatabase) -> asyncio.Lock:
    """The in-process queue for SQLite's one writer (one per database and event loop)."""
    loop = asyncio.get_running_loop()
    entry = _sqlite_locks.get(database)
    if entry is None or entry[0] is not loop:
        entry = _sqlite_locks[database] = (loop, asyncio.Lock())
    return entry[1]


class DatabaseTransaction:
    """One connection and one open database transaction on it (see the module docstring)."""

    def __init__(self, database: PaymentsDatabase, *, autocommit: bool = False) -> None:
        self._database = database
        self._autocommit = autocommit
        self.dialect = dialect_of(database)
        self.connection: Any = None
        self._pg_transaction: Any = None
        self._nested: Any = None
        self._lock: asyncio.Lock | None = None

    async def begin(self) -> None:
        connection = self._database.dedicated_connection()
        if connection is None:  # force_rollback=True: a savepoint on the shared connection
            self.connection = self._database.connection()
            self._nested = self.connection.transaction()
            await self._nested.start()
            return
        if self._autocommit:  # single statements, each committing on its own: no BEGIN, no write lock
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
            elif self.connection is not None and not self._autocommit:
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
async def database_transaction(database: PaymentsDatabase) -> AsyncIterator[SqlContext]:
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


@asynccontextmanager
async def autocommit(database: PaymentsDatabase) -> AsyncIterator[SqlContext]:
    """A connection of its own with no transaction around it: for single statements, each
    atomic on its own (no BEGIN/COMMIT round trips)."""
    transaction = DatabaseTransaction(database, autocommit=True)
    await transaction.begin()
    try:
        yield SqlContext(executor_for(transaction.connection, transaction.dialect))
    finally:
        await transaction.rollback()
