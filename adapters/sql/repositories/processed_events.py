"""The SQL processed provider event repository (`ports.repositories.ProcessedEventRepository`):
which provider notifications were already handled, claimed once each."""
from __future__ import annotations

from datetime import datetime

from adapters.sql.context import SqlContext
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import processed_provider_events


class SqlProcessedEventRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        t = processed_provider_events
        statement = prepared("processed_event", lambda dialect: (
            dialect.insert(t).values(bind_all(("provider", "event_id", "processed_at")))
            .on_conflict_do_nothing().returning(t.c.event_id)))
        return await self._c.one(statement, provider=provider, event_id=event_id, processed_at=now) is not None
