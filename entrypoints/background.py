"""Periodic jobs each server process runs beside the API: the expiry sweep and the purge of old
idempotency keys. Safe in several processes at once (the sweep skips rows another one holds)."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger("payments.background")


async def every(interval: timedelta, job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `job` now and then every `interval`, until cancelled; a failure is logged, not fatal."""
    while True:
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round retries; the log says why this one failed
            log.exception("background job %s failed", name)
        await asyncio.sleep(interval.total_seconds())


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task] = []

    def start(self, interval: timedelta, job: Callable[[], Awaitable[object]], name: str) -> None:
        self._tasks.append(asyncio.create_task(every(interval, job, name), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
