"""The SQL consumption repository (`ports.repositories.ConsumptionRepository`): which
consumptions of receives were already applied, claimed once each by their reference."""
from __future__ import annotations

from datetime import datetime

from adapters.sql.context import SqlContext
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import consumptions


class SqlConsumptionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, user_id: str, reference: str, count: int, now: datetime) -> bool:
        t = consumptions
        statement = prepared("consumption", lambda dialect: (
            dialect.insert(t).values(bind_all(("user_id", "reference", "count", "created_at")))
            .on_conflict_do_nothing().returning(t.c.reference)))
        return await self._c.one(statement, user_id=user_id, reference=reference, count=count,
                                 created_at=now) is not None
