"""Building the `databases.Database` of the SQL adapter from `PAYMENTS_DATABASE_URL`, and the
few facts about its backend that the adapter needs (dialect, SQLite pragmas, a connection of
its own).

URLs: `postgresql://user@host:5432/db` (asyncpg) or `sqlite:///./payments.db` (aiosqlite; a
relative path is relative to the working directory, `sqlite:////abs/path.db` is absolute).
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from databases import Database
from databases.core import Connection

DEFAULT_DATABASE_URL = "sqlite:///./payments.db"

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# Per connection (SQLite forgets them when a connection closes). Must run outside a transaction.
SQLITE_CONNECTION_PRAGMAS = (
    "PRAGMA foreign_keys = ON",
    f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}",
    "PRAGMA synchronous = NORMAL",  # safe with WAL: a crash may lose the last commits, never corrupts
)
# Stored in the database file itself; set by `adapters.sql.migration.migrate`.
SQLITE_FILE_PRAGMAS = ("PRAGMA journal_mode = WAL",)


def url_dialect(url: str) -> str:
    """`postgresql` or `sqlite`; anything else is refused."""
    scheme = urlsplit(url).scheme.split("+", 1)[0]
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    if scheme == "sqlite":
        return "sqlite"
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use postgresql://… or sqlite:///…")


def _check_sqlite_url(url: str) -> None:
    parts = urlsplit(url)
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if not path or path == ":memory:" or "mode=memory" in parts.query:
        raise ValueError("an in-memory SQLite database lives and dies with one connection; "
                         "use a file (sqlite:///./payments.db) or the in-memory adapters")
    if parts.query:
        raise ValueError(f"SQLite URL options are not supported: {parts.query!r}")


def create_database(url: str = DEFAULT_DATABASE_URL, **options: Any) -> PaymentsDatabase:
    """A `Database` for `url` (not yet connected). Options go to the driver: asyncpg pool
    sizes (`min_size`, `max_size`) for PostgreSQL; for SQLite a busy `timeout` is set."""
    if url_dialect(url) == "sqlite":
        _check_sqlite_url(url)
        options.setdefault("timeout", SQLITE_BUSY_TIMEOUT_SECONDS)
    else:
        options.setdefault("reset", _keep_session_state)
        if "min_size" not in str(url):
            options.setdefault("min_size", 2)  # grow to max_size (10) under load, not at start-up
    return PaymentsDatabase(url, **options)


async def _keep_session_state(connection: Any) -> None:
    """asyncpg's pool runs `RESET ALL; UNLISTEN *; …` (a round trip) on every release unless told
    otherwise. Pooled connections here never change session state, listen or take advisory locks
    (the session feed and migrations use connections of their own), and asyncpg still rolls back
    a transaction left open; so releasing costs nothing."""


def dialect_of(database: Database) -> str:
    return url_dialect(str(database.url))


class PaymentsDatabase(Database):
    """A `databases.Database` that also hands out a connection for one unit of work alone.

    `Database.connection()` gives one connection per asyncio task, shared by everything the task
    runs; a unit of work wants its own, so that other statements of the same task (an
    idempotency store call, a nested unit of work) never silently join its transaction. Its
    public `Connection(database, backend)` needs the backend (the pool), which `Database` keeps
    for itself and its subclasses: hence this subclass, the one place that uses it. It also
    remembers whether it was made with `force_rollback` (everything then shares one connection
    that is rolled back at the end), which `Database` does not say publicly.
    """

    def __init__(self, url: str, *, force_rollback: bool = False, **options: Any) -> None:
        super().__init__(url, force_rollback=force_rollback, **options)
        self.rolls_back_everything = force_rollback

    def dedicated_connection(self) -> Connection | None:
        """A connection of its own (not yet acquired), or None under `force_rollback` (then use
        the shared one, `connection()`)."""
        return None if self.rolls_back_everything else Connection(self, self._backend)
