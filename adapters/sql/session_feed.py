"""The session feed across processes on PostgreSQL (`ports.session_feed.SessionFeed`), NOTIFY and
LISTEN both: `notify_session_changes`, run by the SQL unit of work inside each transaction that
writes (an `in_transaction` hook), queues `pg_notify('payments_sessions', session_id)` for the
sessions it changed (delivered at commit, only if it commits); one `LISTEN`ing asyncpg
connection per process wakes that process's subscribers. Hints only: a subscriber re-reads the
session, so a lost notification merely delays an update (see the port)."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable

import asyncpg

from adapters.session_feed import InProcessSessionFeed
from adapters.sql.context import SqlContext
from adapters.sql.database import url_dialect
from domain.events import SessionStatusChanged

CHANNEL = "payments_sessions"
log = logging.getLogger("payments.session_feed")
_NOTIFY = "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id"


def notify_session_changes(context: SqlContext) -> None:
    """Tell every process's session feed which sessions this transaction changed, queued with the
    unit of work's last writes. A session that was just opened is left out: nobody can be
    waiting on an id nobody knows yet."""
    changed = sorted({event.session_id for event in context.recorded_events()
                      if isinstance(event, SessionStatusChanged) and event.status != "open"})
    if changed and context.batch is not None:
        context.batch.add(_NOTIFY, [CHANNEL, changed], check=_any_count)


def _any_count(count: int) -> None:
    """pg_notify returns a row per session; there is nothing to check."""


def in_transaction_hooks(database_url: str) -> tuple:
    """What the SQL unit of work runs inside each committing transaction for the session feed:
    the NOTIFY on PostgreSQL; nothing on SQLite (one process, the in-process feed)."""
    return (notify_session_changes,) if url_dialect(database_url) == "postgresql" else ()


class PostgresSessionFeed(InProcessSessionFeed):
    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def start(self) -> None:
        await self._connection.add_listener(CHANNEL, self._on_notification)

    def _on_notification(self, connection: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        self.wake([payload])

    async def publish(self, session_ids: Iterable[str]) -> None:
        """Nothing to do: the committing transaction notified every process, this one included."""


async def postgres_session_feed(database_url: str) -> AsyncIterator[PostgresSessionFeed]:
    """A resource: the listening connection lives as long as the application."""
    connection = await asyncpg.connect(database_url)
    feed = PostgresSessionFeed(connection)
    await feed.start()
    try:
        yield feed
    finally:
        await connection.close()
