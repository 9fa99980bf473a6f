"""The in-process session feed (`ports.session_feed.SessionFeed`): enough for one process, as
with SQLite or the in-memory adapters. PostgreSQL deployments use `adapters.sql.session_feed`,
which carries the same hints between processes with LISTEN/NOTIFY."""
from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager


class _Waiter:
    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return False
        self._event.clear()
        return True


class InProcessSessionFeed:
    def __init__(self) -> None:
        self._waiters: defaultdict[str, set[_Waiter]] = defaultdict(set)

    @asynccontextmanager
    async def subscribe(self, session_id: str) -> AsyncIterator[_Waiter]:
        waiter = _Waiter()
        self._waiters[session_id].add(waiter)
        try:
            yield waiter
        finally:
            self._waiters[session_id].discard(waiter)
            if not self._waiters[session_id]:
                del self._waiters[session_id]

    def wake(self, session_ids: Iterable[str]) -> None:
        """Wake this process's subscribers of these sessions."""
        for session_id in session_ids:
            for waiter in self._waiters.get(session_id, ()):
                waiter.wake()

    def wake_all(self) -> None:
        """Wake every subscriber of this process: each re-reads its session (after hints may
        have been lost)."""
        self.wake(list(self._waiters))

    async def publish(self, session_ids: Iterable[str]) -> None:
        self.wake(session_ids)
