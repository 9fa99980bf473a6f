"""The clock port: the only way the application learns the time.

`Clock` is what the use cases and the jobs read (business time: in development and tests it may
be moved forward, `AdjustableClock`). `ClockOffsets` is where the test clock keeps how far ahead
of real time business time runs, shared by every process of the service (docs/test-clock.md).
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant as an aware UTC `datetime`."""
        ...


# How far business time may run ahead of real time: a century keeps every date far from year 9999.
MAX_CLOCK_OFFSET_SECONDS = 36525 * 86400


class ClockLimitError(Exception):
    """The clock would move further ahead of real time than it may (`limit_seconds`)."""

    def __init__(self, limit_seconds: int) -> None:
        super().__init__(f"the clock may run at most {limit_seconds} seconds ahead of real time")
        self.limit_seconds = limit_seconds


class ClockOffsets(Protocol):
    """The test clock's offset in whole seconds (0 until first moved); it only ever grows."""

    async def read(self) -> int:
        """The offset now (0 if it was never moved)."""
        ...

    async def advance(self, seconds: int, limit: int) -> int | None:
        """Add `seconds` (≥ 1) atomically, whatever other processes do at the same time, and return
        the new offset; None (nothing changed) if it would exceed `limit`."""
        ...


@runtime_checkable
class AdjustableClock(Clock, Protocol):
    """A business clock that can be moved forward (development and tests only)."""

    async def move_forward(self, seconds: int) -> datetime:
        """Move business time `seconds` (≥ 1) ahead, for every process; the new `now()`. Raises
        `ClockLimitError` if that is further ahead of real time than allowed."""
        ...
