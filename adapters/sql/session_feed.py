"""The session feed across processes on PostgreSQL (`ports.session_feed.SessionFeed`), NOTIFY and
LISTEN both: `notify_session_changes`, run by the SQL unit of work inside each transaction that
writes (an `in_transaction` hook), queues `pg_notify('payments_sessions', session_id)` for the
sessions it changed (delivered at commit, only if it commits); one `LISTEN`ing asyncpg
connection per process wakes that process's subscribers. Hints only: a subscriber re-reads the
session, so a lost notification merely delays an update (see the port).

The listening connection is supervised: when it drops (the server closed it, e.g. a restart or
`pg_terminate_backend`, or a periodic probe gets no answer) the feed logs it and reconnects with
back-off; once listening again it wakes every subscriber of the process, so each re-reads the
session it waits on and nothing notified meanwhile is missed. `listening` and `reconnects` say
how it fares (readiness and the metrics read them).

The connection takes the database URL without the connection pool's options (`min_size`,
`max_size`, …), which asyncpg would otherwise send to the server as settings, and with `ssl`
given to asyncpg as the pool gets it (`databases`)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from adapters.session_feed import InProcessSessionFeed
from adapters.sql.context import SqlContext
from adapters.sql.database import url_dialect
from domain.events import SessionStatusChanged

CHANNEL = "payments_sessions"
log = logging.getLogger("payments.session_feed")
_NOTIFY = "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id"

# Options of the connection pool (`databases` reads min_size/max_size; asyncpg's pool takes all of
# them), never the server's: the one listening connection drops them.
POOL_OPTIONS = frozenset({"min_size", "max_size", "max_queries", "max_inactive_connection_lifetime"})
CONNECT_TIMEOUT_SECONDS = 10.0
PROBE_INTERVAL_SECONDS = 10.0  # a connection that died silently (no FIN) is found by a probe
PROBE_TIMEOUT_SECONDS = 5.0
FIRST_RETRY_SECONDS = 0.25
MAX_RETRY_SECONDS = 30.0


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
    """`connect` opens a new connection (to listen on); `start` opens the first one (a failure
    stops start-up) and then supervises it; `close` stops."""

    def __init__(self, connect: Callable[[], Awaitable[asyncpg.Connection]], *,
                 probe_interval: float = PROBE_INTERVAL_SECONDS, probe_timeout: float = PROBE_TIMEOUT_SECONDS,
                 first_retry: float = FIRST_RETRY_SECONDS, max_retry: float = MAX_RETRY_SECONDS) -> None:
        super().__init__()
        self._connect = connect
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._first_retry = first_retry
        self._max_retry = max_retry
        self._connection: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self.reconnects = 0  # times the feed listened again after losing its connection

    @property
    def listening(self) -> bool:
        """Whether the feed holds a live LISTEN connection right now."""
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        await self._listen()
        self._supervisor = asyncio.get_running_loop().create_task(self._supervise(), name="session-feed")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        connection, self._connection = self._connection, None
        if connection is not None:
            await _close(connection)

    async def _listen(self) -> None:
        connection = await self._connect()
        self._lost.clear()
        self._connection = connection
        try:
            connection.add_termination_listener(self._on_termination)
            await connection.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            self._connection = None
            connection.terminate()
            raise

    def _on_termination(self, connection: asyncpg.Connection) -> None:
        if connection is self._connection:
            self._lost.set()

    def _on_notification(self, connection: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        self.wake([payload])

    async def _supervise(self) -> None:
        while True:
            try:
                reason = await self._until_lost()
                connection, self._connection = self._connection, None
                log.warning("the session feed lost its LISTEN connection (%s); reconnecting", reason)
                if connection is not None:
                    connection.terminate()  # no polite close: it may never answer
                await self._reconnect()
            except Exception:  # never let the supervisor die: the feed would stay deaf
                log.exception("the session feed's supervisor failed; it goes on")
                await asyncio.sleep(self._first_retry)

    async def _until_lost(self) -> str:
        """Wait until the connection is lost (closed by the server, or a probe failed); why."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self._probe_interval)
                return "the connection was closed"
            except TimeoutError:
                pass
            connection = self._connection
            if connection is None or connection.is_closed():
                return "the connection was closed"
            try:
                await asyncio.wait_for(connection.fetchval("SELECT 1"), self._probe_timeout)
            except Exception as error:  # whatever went wrong, the connection is of no use now
                return f"a probe failed: {type(error).__name__}: {error}"

    async def _reconnect(self) -> None:
        attempt, delay = 0, 0.0
        while True:
            await asyncio.sleep(delay)
            attempt += 1
            try:  # bounded: a server that accepts and then never answers is retried too
                await asyncio.wait_for(self._listen(), CONNECT_TIMEOUT_SECONDS + self._probe_timeout)
            except Exception as error:  # the server may be down for a while: keep trying
                delay = self._retry_delay(attempt)
                log.warning("the session feed could not reconnect (attempt %d: %s: %s); retrying in %.2f s",
                            attempt, type(error).__name__, error, delay)
                continue
            self.reconnects += 1
            log.warning("the session feed is listening again (after %d attempt%s); waking every subscriber",
                        attempt, "" if attempt == 1 else "s")
            self.wake_all()  # they re-read what may have changed while nobody listened
            return

    def _retry_delay(self, attempt: int) -> float:
        """Exponential back-off with jitter: first_retry, twice that, … up to max_retry."""
        return min(self._max_retry, self._first_retry * 2 ** (attempt - 1)) * random.uniform(0.8, 1.0)

    async def publish(self, session_ids: Iterable[str]) -> None:
        """Nothing to do: the committing transaction notified every process, this one included."""


async def _close(connection: asyncpg.Connection) -> None:
    try:
        await asyncio.wait_for(connection.close(), PROBE_TIMEOUT_SECONDS)
    except Exception:  # a dead connection cannot close politely
        connection.terminate()


def listen_connect_arguments(database_url: str) -> tuple[str, dict[str, Any]]:
    """The DSN and keyword arguments of `asyncpg.connect` for the listening connection: the URL
    without the pool's options, `ssl` as the pool takes it."""
    parts = urlsplit(database_url)
    kept, options = [], {}
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in POOL_OPTIONS:
            continue
        if key == "ssl":
            options["ssl"] = {"true": True, "false": False}.get(value.lower(), value.lower())
            continue
        kept.append((key, value))
    return urlunsplit(parts._replace(scheme="postgresql", query=urlencode(kept))), options


async def postgres_session_feed(database_url: str) -> AsyncIterator[PostgresSessionFeed]:
    """A resource: the listening connection lives (and is reconnected) as long as the application."""
    dsn, options = listen_connect_arguments(database_url)
    feed = PostgresSessionFeed(lambda: asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS, **options))
    await feed.start()
    try:
        yield feed
    finally:
        await feed.close()
