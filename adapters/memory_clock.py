"""The test clock's offset in memory (`ports.clock.ClockOffsets`): one process's, as the rest of the
in-memory adapters' store."""
from __future__ import annotations


class InMemoryClockOffsets:
    def __init__(self) -> None:
        self._seconds = 0

    async def read(self) -> int:
        return self._seconds

    async def advance(self, seconds: int, limit: int) -> int | None:
        if seconds < 1:
            raise ValueError("the offset only grows")
        if self._seconds + seconds > limit:
            return None
        self._seconds += seconds
        return self._seconds
