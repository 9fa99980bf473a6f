"""The PostgreSQL session feed (`adapters.sql.session_feed`) on a real server: it connects on a URL
carrying the pool's options, and it survives its LISTEN connection being dropped (the server
restarting, `pg_terminate_backend`, a connection that died silently): it reconnects with back-off,
logs it, wakes every subscriber so that each re-reads its session, hears notifications again,
and says how it fares (`listening`, `reconnects`, readiness and metrics)."""
from __future__ import annotations

import asyncio
import logging

import asyncpg
import psycopg
import pytest

from adapters.sql.session_feed import CHANNEL, PostgresSessionFeed, listen_connect_arguments, postgres_session_feed
from live import eventually

pytestmark = pytest.mark.postgres

WAKE_SECONDS = 3.0


def notify(url: str, *session_ids: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        for session_id in session_ids:
            connection.execute("SELECT pg_notify(%s, %s)", (CHANNEL, session_id))


def drop_connections(url: str) -> int:
    """What an operator's `pg_terminate_backend` does to every other connection of the database."""
    with psycopg.connect(url, autocommit=True) as connection:
        return len(connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()").fetchall())


async def woken(subscription, timeout: float = WAKE_SECONDS) -> bool:
    return await subscription.wait(timeout)


def test_the_listening_connection_leaves_the_pool_options_out():
    dsn, options = listen_connect_arguments(
        "postgresql://u:p@db:5432/payments?min_size=2&max_size=8&max_queries=100&sslmode=prefer&ssl=true")
    assert dsn == "postgresql://u:p@db:5432/payments?sslmode=prefer"
    assert options == {"ssl": True}
    assert listen_connect_arguments("postgresql+asyncpg://u@db/p?max_inactive_connection_lifetime=60") == (
        "postgresql://u@db/p", {})


async def test_the_feed_listens_on_a_url_carrying_pool_options(migrated_postgres_url):
    async for feed in postgres_session_feed(migrated_postgres_url + "?min_size=1&max_size=3"):
        async with feed.subscribe("s-pool") as subscription:
            notify(migrated_postgres_url, "s-pool")
            assert await woken(subscription)
        break


async def test_after_its_connection_is_dropped_the_feed_listens_again_and_wakes_every_subscriber(
        migrated_postgres_url, caplog):
    caplog.set_level(logging.INFO, logger="payments.session_feed")
    async for feed in postgres_session_feed(migrated_postgres_url):
        async with feed.subscribe("s-1") as first, feed.subscribe("s-2") as second:
            notify(migrated_postgres_url, "s-1")
            assert await woken(first)
            assert feed.listening and feed.reconnects == 0

            assert drop_connections(migrated_postgres_url) >= 1
            # Listening again, everyone re-reads (a hint sent meanwhile may be lost): both wake.
            assert await woken(first) and await woken(second)
            assert feed.listening and feed.reconnects == 1

            notify(migrated_postgres_url, "s-2")  # and hints arrive again
            assert await woken(second)
            assert not await woken(first, 0.3)
        break
    messages = [record.getMessage() for record in caplog.records if record.name == "payments.session_feed"]
    assert any("lost its LISTEN connection" in message for message in messages), messages
    assert any("listening again" in message for message in messages), messages


async def test_the_feed_retries_with_back_off_while_the_server_refuses_and_reports_itself_not_listening(
        migrated_postgres_url, caplog):
    dsn, options = listen_connect_arguments(migrated_postgres_url)
    refusing = asyncio.Event()
    attempts = []

    async def connect() -> asyncpg.Connection:
        attempts.append(asyncio.get_running_loop().time())
        if refusing.is_set():
            raise ConnectionRefusedError("the server is down")
        return await asyncpg.connect(dsn, **options)

    feed = PostgresSessionFeed(connect, first_retry=0.05, max_retry=0.4)
    await feed.start()
    try:
        async with feed.subscribe("s-3") as subscription:
            refusing.set()
            drop_connections(migrated_postgres_url)
            await eventually(lambda: asyncio.sleep(0, feed.listening), lambda listening: not listening,
                             what="the feed to notice")
            await eventually(lambda: asyncio.sleep(0, len(attempts)), lambda n: n >= 6, what="several retries")
            assert not feed.listening and feed.reconnects == 0
            gaps = [later - earlier for earlier, later in zip(attempts[1:], attempts[2:])]
            assert gaps[-1] > gaps[0] and max(gaps) < 0.6, gaps  # growing, up to the cap

            refusing.clear()
            assert await woken(subscription)
            assert feed.listening and feed.reconnects == 1
    finally:
        await feed.close()
    assert any("could not reconnect" in record.getMessage() for record in caplog.records)


class _SilentlyDead:
    """A connection whose peer vanished without closing it: still "open", answers nothing."""

    def __init__(self) -> None:
        self.terminated = False

    def is_closed(self) -> bool:
        return self.terminated

    def add_termination_listener(self, callback) -> None:
        pass

    async def add_listener(self, channel, callback) -> None:
        pass

    async def fetchval(self, query):
        await asyncio.Event().wait()

    async def close(self) -> None:
        await asyncio.Event().wait()

    def terminate(self) -> None:
        self.terminated = True


async def test_a_connection_that_died_silently_is_found_by_a_probe_and_replaced(migrated_postgres_url):
    dsn, options = listen_connect_arguments(migrated_postgres_url)
    dead = _SilentlyDead()
    connections = [dead]

    async def connect():
        if connections:
            return connections.pop()
        return await asyncpg.connect(dsn, **options)

    feed = PostgresSessionFeed(connect, probe_interval=0.1, probe_timeout=0.1, first_retry=0.05)
    await feed.start()
    try:
        async with feed.subscribe("s-4") as subscription:
            assert await woken(subscription)  # listening again on a real connection
            assert dead.terminated and feed.listening and feed.reconnects == 1
            notify(migrated_postgres_url, "s-4")
            assert await woken(subscription)
    finally:
        await feed.close()


async def test_readiness_and_metrics_report_a_feed_that_cannot_reconnect(make_sql_app, clean_postgres_url):
    from entrypoints.http.keys import SESSION_FEED

    app = await make_sql_app(clean_postgres_url)
    feed = app.app[SESSION_FEED]
    http = app.service.http

    async def readyz() -> int:
        async with http.get(app.service.url("/readyz")) as response:
            return response.status

    async def metrics() -> str:
        async with http.get(app.service.url("/metrics")) as response:
            return await response.text()

    assert await readyz() == 200
    assert "payments_session_feed_listening 1.0" in await metrics()
    connect = feed._connect

    async def refused():
        raise ConnectionRefusedError("the server is down")

    feed._connect = refused  # the server refuses new connections; the pool's next ones still work
    try:
        drop_connections(clean_postgres_url)
        await eventually(readyz, lambda status: status == 503, what="/readyz to report the deaf feed")
        text = await metrics()
        assert "payments_session_feed_listening 0.0" in text and "payments_session_feed_reconnects_total 0.0" in text
    finally:
        feed._connect = connect
    await eventually(readyz, lambda status: status == 200, what="/readyz once the feed listens again")
    assert "payments_session_feed_reconnects_total 1.0" in await metrics()
