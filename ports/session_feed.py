"""The session feed: tells waiting readers (the session event stream) that a payment session
may have changed, in this process and in every other process of the service.

Delivery is a hint, not data: a subscriber re-reads the session when woken, and also re-reads
it now and then on its own, so a lost hint only delays an update. A feed that carries hints
between processes over a connection wakes every subscriber when it gets that connection back
(hints sent meanwhile were lost), and may say whether it is connected (`listening`).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from domain.events import Event, SessionStatusChanged


class Subscription(Protocol):
    async def wait(self, timeout: float) -> bool:
        """Until the session may have changed (True) or `timeout` seconds passed (False)."""
        ...


class SessionFeed(Protocol):
    def subscribe(self, session_id: str) -> AbstractAsyncContextManager[Subscription]:
        """Listen for changes of one session while the block runs."""
        ...

    async def publish(self, session_ids: Iterable[str]) -> None:
        """Say that these sessions changed (after the change was committed)."""
        ...


def session_changes(feed: SessionFeed) -> Callable[[list[Event]], object]:
    """A post-commit subscriber (`ports.events`) that tells `feed` which sessions changed."""
    async def publish(events: list[Event]) -> None:
        changed = {event.session_id for event in events if isinstance(event, SessionStatusChanged)}
        if changed:
            await feed.publish(changed)
    return publish
