"""Periodic jobs each server process runs beside the API: the expiry sweep and the purge of old
idempotency keys. Safe in several processes at once (the sweep skips rows another one holds).
`wake()` runs every job at once instead of at its next interval: the app calls it when the test
clock moves business time (docs/test-clock.md), so what fell due runs without waiting."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

log = logging.getLogger("payments.background")


async def every(interval: timedelta, job: Callable[[], Awaitable[object]], name: str,
                wake: asyncio.Event | None = None) -> None:
    """Run `job` now and then every `interval` (or as soon as `wake` is set), until cancelled; a
    failure is logged, not fatal."""
    while True:
        if wake is not None:
            wake.clear()  # a wake while the job runs runs it again
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception:  # the next round retries; the log says why this one failed
            log.exception("background job %s failed", name)
        if wake is None:
            await asyncio.sleep(interval.total_seconds())
            continue
        try:
            await asyncio.wait_for(wake.wait(), interval.total_seconds())
        except TimeoutError:
            pass


class BackgroundJobs:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task] = []
        self._wakes: list[asyncio.Event] = []

    def start(self, interval: timedelta, job: Callable[[], Awaitable[object]], name: str) -> None:
        wake = asyncio.Event()
        self._wakes.append(wake)
        self._tasks.append(asyncio.create_task(every(interval, job, name, wake), name=name))

    def run(self, loop: Callable[[], Awaitable[object]], name: str) -> None:
        """Run a job that loops by itself (waiting on its own wake-ups) until `stop`."""
        self._tasks.append(asyncio.create_task(loop(), name=name))

    def wake(self) -> None:
        """Run every job now (each once more if it is running)."""
        for wake in self._wakes:
            wake.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        self._wakes.clear()
