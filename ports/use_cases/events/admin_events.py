"""The admins' view of the outbox: the events by status, newest first (`ListEvents`), and sending
one again (`RedeliverEvent`: pending and due now, with 72 hours more; same id and body)."""
from __future__ import annotations

from collections.abc import Callable

import attrs

from domain.errors import NotFoundError
from domain.outbox import RETRY_FOR, OutboxEvent, OutboxStatus
from ports.clock import Clock
from ports.outbox import OutboxStore
from ports.use_cases.views import MAX_LIMIT, Page, bounded


class EventNotFound(NotFoundError):
    def __init__(self, event_id: str) -> None:
        super().__init__(f"Event {event_id} not found.")


@attrs.define
class ListEvents:
    _store: OutboxStore

    async def __call__(self, status: OutboxStatus | None, page: int = 1, limit: int = 20) -> Page:
        page, limit = bounded(page, "page", 1, None), bounded(limit, "limit", 1, MAX_LIMIT)
        events, total = await self._store.page(status, page, limit)
        return Page(tuple(events), page, limit, total)


@attrs.define
class RedeliverEvent:
    _store: OutboxStore
    _clock: Clock
    _wake: Callable[[], None] = lambda: None  # this process's dispatcher sends it at once

    async def __call__(self, event_id: str) -> OutboxEvent:
        now = self._clock.now()
        event = await self._store.redeliver(event_id, now, now + RETRY_FOR)
        if event is None:
            raise EventNotFound(event_id)
        self._wake()
        return event
