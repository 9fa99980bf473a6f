"""The dispatcher of events to the main backend, one per server process (docs/events.md): a loop
that delivers what is due (`ports.use_cases.events.DeliverEvents`), then waits for a wake-up — a
commit of this process that wrote events, PostgreSQL's NOTIFY from any process, the test clock
moving — or for the poll interval (1 s; 5 s where PostgreSQL's NOTIFY wakes it), which also
brings retries falling due.

Beside it each process purges the events settled longer ago than the retention
(`ports.use_cases.events.PurgeEvents`) every `PURGE_INTERVAL`, a `BackgroundJobs` job like the
others (`entrypoints.http.app`); processes purging at once share the rows (SKIP LOCKED)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from ports.outbox import OutboxWakeups

log = logging.getLogger("payments.events")
POLL_SECONDS = 1.0
PURGE_INTERVAL = timedelta(minutes=5)


async def deliver_forever(deliver: Callable[[], Awaitable[object]], wakeups: OutboxWakeups,
                          poll_seconds: float = POLL_SECONDS) -> None:
    try:
        while True:
            try:
                await deliver()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database may be away for a moment: the next round retries
                log.exception("delivering events failed; retrying")
            await wakeups.wait(getattr(wakeups, "poll_seconds", poll_seconds))
    finally:
        close = getattr(wakeups, "close", None)  # PostgreSQL's listening connection
        if close is not None:
            await close()
