"""The SQL processed provider event repository (`ports.repositories.ProcessedEventRepository`):
which provider notifications were already handled, claimed once each.

`record` queues its `INSERT … ON CONFLICT DO NOTHING RETURNING` with the unit of work's other
writes on PostgreSQL (`adapters.sql.batch`): the batch checks that it stored the row, and when it
did not (the event was recorded before, or by a unit of work that committed while this one
waited on the unique index) raises `DuplicateEventError`, so the commit rolls everything back.
On SQLite (no batch) it runs at once."""
from __future__ import annotations

from datetime import datetime

from adapters.sql.context import SqlContext
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import processed_provider_events
from ports.repositories import DuplicateEventError

_INSERT = prepared("processed_event", lambda dialect: (
    dialect.insert(processed_provider_events).values(bind_all(("provider", "event_id", "processed_at")))
    .on_conflict_do_nothing().returning(processed_provider_events.c.event_id)))


class SqlProcessedEventRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        return await self._c.one(_INSERT, provider=provider, event_id=event_id, processed_at=now) is not None

    async def record(self, provider: str, event_id: str, now: datetime) -> None:
        values = {"provider": provider, "event_id": event_id, "processed_at": now}
        if self._c.batch is None:
            if await self._c.one(_INSERT, **values) is None:
                raise DuplicateEventError(f"{provider} event {event_id!r} was recorded before")
            return

        def check(count: int) -> None:
            if count != 1:
                raise DuplicateEventError(f"{provider} event {event_id!r} was recorded before")
        self._c.batch.queue(_INSERT, values, check=check)
