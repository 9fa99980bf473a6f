"""The session feed across processes on PostgreSQL (`ports.session_feed.SessionFeed`): the SQL
unit of work sends `pg_notify('payments_sessions', session_id)` inside the transaction that
changes a session (delivered at commit, only if it commits), and one `LISTEN`ing asyncpg
connection per process wakes that process's subscribers. Hints only: a subscriber
re-reads the session, so a lost notification merely delays an update (see the port)."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable

import asyncpg

from adapters.session_feed import InProcessSessionFeed
from adapters.sql.unit_of_work import SESSION_CHANNEL

CHANNEL = SESSION_CHANNEL
log = logging.getLogger("payments.session_feed")


class PostgresSessionFeed(InProcessSessionFeed):
    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def start(self) -> None:
        await self._connection.add_listener(CHANNEL, self._on_notification)

    def _on_notification(self, connection, pid, channel, payload: str) -> None:
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
