"""Schema migrations of the SQL adapter: `migrate(url)` brings a PostgreSQL or SQLite database to
the newest alembic revision in `adapters/sql/migrations/` (shipped inside the package).

Alembic runs synchronously, on psycopg (PostgreSQL) or the standard library's sqlite3. Several
processes may start at once: on PostgreSQL the upgrade runs under a session-level
`pg_advisory_lock`; on SQLite inside one `BEGIN EXCLUSIVE` transaction (SQLite's DDL is
transactional), so the others wait and then find the schema at head. Applying it again is a no-op.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.pool import NullPool

from adapters.sql.database import (
    SQLITE_CONNECTION_PRAGMAS,
    SQLITE_FILE_PRAGMAS,
    _check_sqlite_url,
    url_dialect,
)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# pg_advisory_lock key shared by every process migrating this schema (b"paymentsmigrate"[:8]).
ADVISORY_LOCK_KEY = int.from_bytes(b"paymigra", "big") & 0x7FFF_FFFF_FFFF_FFFF
_DATABASES_ONLY_OPTIONS = {"min_size", "max_size"}  # asyncpg pool options that psycopg would refuse


def sync_url(database_url: str) -> str:
    """The URL of a synchronous driver for the same database (psycopg, or sqlite3)."""
    parts = urlsplit(database_url)
    if url_dialect(database_url) == "sqlite":
        _check_sqlite_url(database_url)
        return "sqlite" + database_url[len(parts.scheme):]  # urlunsplit would eat the empty host
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k not in _DATABASES_ONLY_OPTIONS])
    return urlunsplit(parts._replace(scheme="postgresql+psycopg", query=query))


def sync_engine(database_url: str) -> sa.Engine:
    """A synchronous engine for migrations and tooling. SQLite connections get the adapter's
    pragmas (WAL included) and open their transactions with `BEGIN EXCLUSIVE`."""
    url = sync_url(database_url)
    if url_dialect(url) != "sqlite":
        return sa.create_engine(url, poolclass=NullPool)
    engine = sa.create_engine(url, poolclass=NullPool)

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, DDL included
        cursor = dbapi_connection.cursor()
        for pragma in (*SQLITE_CONNECTION_PRAGMAS, *SQLITE_FILE_PRAGMAS):
            cursor.execute(pragma)
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN EXCLUSIVE")

    return engine


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An alembic `Config` for the shipped migrations; env.py runs on `connection` when given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(database_url: str) -> str | None:
    """The revision the database is at (None: not migrated at all)."""
    engine = sync_engine(database_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


@contextmanager
def _migration_lock(connection: sa.Connection) -> Iterator[None]:
    if connection.dialect.name != "postgresql":
        yield  # SQLite: the upgrade's BEGIN EXCLUSIVE is the lock
        return
    connection.execute(sa.select(sa.func.pg_advisory_lock(ADVISORY_LOCK_KEY)))
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(sa.select(sa.func.pg_advisory_unlock(ADVISORY_LOCK_KEY)))
        connection.commit()


def migrate(database_url: str) -> None:
    """Upgrade the database at `database_url` to the newest revision (creating the schema of a
    new database). Safe to run again, and from several processes at once. Blocking: from a
    running event loop, call it through `asyncio.to_thread`."""
    engine = sync_engine(database_url)
    try:
        with engine.connect() as connection, _migration_lock(connection):
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
    finally:
        engine.dispose()
