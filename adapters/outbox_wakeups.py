"""Waking the dispatcher of this process (`ports.outbox.OutboxWakeups`): the unit of work's
post-commit subscriber calls `wake` when it wrote events, so they go out at once; `wait` also ends
after its timeout (the fallback poll, and retries falling due). Across processes on PostgreSQL,
`adapters.sql.outbox_listener` adds LISTEN."""
from __future__ import annotations

import asyncio
import contextlib


class InProcessWakeups:
    """`ports.outbox.OutboxWakeups` within one process: `wake` ends the current `wait`."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self, *_: object) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()
