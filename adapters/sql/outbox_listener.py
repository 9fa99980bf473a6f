"""Waking every process's dispatcher on PostgreSQL (`ports.outbox.OutboxWakeups`): one connection
per process LISTENs on `payments_outbox`, which each transaction that wrote events NOTIFYs at
commit (`adapters.sql.outbox`), so an idle service sends a new event within milliseconds.

The listening starts at the dispatcher's first `wait` and ends with `close` (the dispatcher's
loop closes it when it stops). The connection is its own (asyncpg, with the URL and options the session feed's listening
connection uses, `listen_connect_arguments`), not one of the pool's: a LISTEN holds its
connection for the life of the process. When it drops, it is opened again with back-off;
meanwhile (and always) the dispatcher also polls (`wait`'s timeout), so a lost notification only
delays a delivery, never loses it.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random

import asyncpg

from adapters.outbox_wakeups import InProcessWakeups
from adapters.sql.outbox import CHANNEL
from adapters.sql.session_feed import CONNECT_TIMEOUT_SECONDS, listen_connect_arguments

log = logging.getLogger("payments.events")
FIRST_RETRY_SECONDS = 0.25
MAX_RETRY_SECONDS = 30.0


class PostgresWakeups(InProcessWakeups):
    poll_seconds = 5.0  # the fallback poll: NOTIFY wakes the dispatcher at once

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._dsn, self._options = listen_connect_arguments(database_url)
        self._task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._listen_forever(), name="outbox-listener")

    async def wait(self, timeout: float) -> None:
        await self.start()  # listening from the dispatcher's first wait on (it closes it when it stops)
        await super().wait(timeout)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _listen_forever(self) -> None:
        attempt = 0
        while True:
            connection = None
            try:
                connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS, **self._options)
                lost = asyncio.Event()
                connection.add_termination_listener(lambda _: lost.set())
                await connection.add_listener(CHANNEL, self._on_notification)
                attempt = 0
                self.listening.set()
                self.wake()  # what was written while nobody listened goes out now
                await lost.wait()
                log.warning("the outbox listener lost its connection; listening again")
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the server may be down for a while: the poll covers it meanwhile
                attempt += 1
                delay = min(MAX_RETRY_SECONDS, FIRST_RETRY_SECONDS * 2 ** (attempt - 1)) * random.uniform(0.8, 1.0)
                log.warning("the outbox listener could not listen (%s); retrying in %.2f s", type(error).__name__, delay)
                await asyncio.sleep(delay)
            finally:
                self.listening.clear()
                if connection is not None and not connection.is_closed():
                    connection.terminate()

    def _on_notification(self, connection: asyncpg.Connection, pid: int, channel: str, payload: str) -> None:
        self.wake()

