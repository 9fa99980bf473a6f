"""Clock adapters: the system clock, a fixed clock for tests and simulations, and the business clock
of development and test set-ups that the test clock moves forward (`OffsetClock`).

`OffsetClock.now()` is real time plus an offset that lives in the database (`ports.clock.ClockOffsets`),
so that every process of the service and every job agrees on business time. Reading it must stay a
cheap synchronous call (the use cases read the clock on every request): each process keeps the
offset in memory and refreshes it in the background, once a second (`keep_fresh`, started by
`running`). The process that moves the clock sees its own change at once; the others within a
second. The offset only grows, so a refresh that raced with a move never takes the clock back.
"""
from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

import attrs

from ports.clock import MAX_CLOCK_OFFSET_SECONDS, Clock, ClockLimitError, ClockOffsets

log = logging.getLogger("payments.clock")
REFRESH_INTERVAL = timedelta(seconds=1)
MAX_OFFSET_SECONDS = MAX_CLOCK_OFFSET_SECONDS


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@attrs.define
class FixedClock:
    """A clock that stands still until told to move."""

    current: datetime

    def __attrs_post_init__(self) -> None:
        if self.current.utcoffset() != timedelta(0):
            raise ValueError("FixedClock needs an aware UTC datetime")

    def now(self) -> datetime:
        return self.current

    def advance(self, delta: timedelta) -> datetime:
        self.current += delta
        return self.current

    def set(self, moment: datetime) -> None:
        self.current = moment


class OffsetClock:
    """Business time: `real` plus the offset stored in `offsets` (see the module docstring).
    `on_move` callbacks run whenever this process learns that the clock moved (its own move or a
    refresh), e.g. to wake the business-time jobs at once."""

    def __init__(self, offsets: ClockOffsets, real: Clock | None = None, *,
                 refresh_interval: timedelta = REFRESH_INTERVAL) -> None:
        self._offsets = offsets
        self._real = real or SystemClock()
        self._refresh_interval = refresh_interval
        self._seconds = 0
        self._offset = timedelta(0)
        self._listeners: list[Callable[[], object]] = []

    def now(self) -> datetime:
        return self._real.now() + self._offset

    @property
    def offset_seconds(self) -> int:
        return self._seconds

    def on_move(self, listener: Callable[[], object]) -> None:
        self._listeners.append(listener)

    async def move_forward(self, seconds: int) -> datetime:
        if seconds < 1:
            raise ValueError("the clock only moves forward (by 1 second at least)")
        total = await self._offsets.advance(seconds, MAX_OFFSET_SECONDS)
        if total is None:
            raise ClockLimitError(MAX_OFFSET_SECONDS)
        self._learn(total)
        return self.now()

    async def refresh(self) -> None:
        """Read the shared offset now (one query)."""
        self._learn(await self._offsets.read())

    async def keep_fresh(self) -> None:
        """Refresh every `refresh_interval` until cancelled; a failed read keeps the last offset."""
        failing = False
        while True:
            await asyncio.sleep(self._refresh_interval.total_seconds())
            try:
                await self.refresh()
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database is away: keep the offset we have, say so once
                if not failing:
                    log.warning("could not read the test clock's offset (keeping %s s): %s", self._seconds, error)
                failing = True

    def _learn(self, seconds: int) -> None:
        if seconds <= self._seconds:
            return
        self._seconds = seconds
        self._offset = timedelta(seconds=seconds)
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # a listener's failure never stops the clock
                log.exception("a listener of the test clock failed")


@asynccontextmanager
async def running(clock: OffsetClock) -> AsyncIterator[OffsetClock]:
    """`clock` with its offset read and its background refresh running until the block ends."""
    await clock.refresh()
    task = asyncio.get_running_loop().create_task(clock.keep_fresh(), name="refresh-test-clock")
    try:
        yield clock
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
