"""The session feed across processes on PostgreSQL (`ports.session_feed.SessionFeed`):
`pg_notify('payments_sessions', session_id)` after a change is committed, and one `LISTEN`ing
asyncpg connection per process that wakes that process's subscribers. Hints only: a subscriber
re-reads the session, so a lost notification merely delays an update (see the port)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable

import asyncpg

from adapters.session_feed import InProcessSessionFeed

CHANNEL = "payments_sessions"
log = logging.getLogger("payments.session_feed")


class PostgresSessionFeed(InProcessSessionFeed):
    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._connection = connection
        self._lock = asyncio.Lock()  # one statement at a time on the shared connection

    async def start(self) -> None:
        await self._connection.add_listener(CHANNEL, self._on_notification)

    def _on_notification(self, connection, pid, channel, payload: str) -> None:
        self.wake([payload])

    async def publish(self, session_ids: Iterable[str]) -> None:
        async with self._lock:
            for session_id in session_ids:
                await self._connection.execute("SELECT pg_notify($1, $2)", CHANNEL, session_id)


async def postgres_session_feed(database_url: str) -> AsyncIterator[PostgresSessionFeed]:
    """A resource: the listening connection lives as long as the application."""
    connection = await asyncpg.connect(database_url)
    feed = PostgresSessionFeed(connection)
    await feed.start()
    try:
        yield feed
    finally:
        await connection.close()
