"""The SQL payer-link repository (`ports.repositories.PayerLinkRepository`): which payer (a keyed
hash) paid for which user, written with the unit of work that records the payment (queued with
its other writes); the latest time is kept per payer and user (docs/risk.md)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql.context import SqlContext
from adapters.sql.statements import prepared
from adapters.sql.tables import risk_payers


def _upsert(dialect):
    insert = dialect.insert(risk_payers).values(payer_hash=sa.bindparam("payer_hash"), user_id=sa.bindparam("user_id"),
                                                last_paid_at=sa.bindparam("paid_at"))
    return insert.on_conflict_do_update(index_elements=[risk_payers.c.payer_hash, risk_payers.c.user_id],
                                        set_={"last_paid_at": insert.excluded.last_paid_at})


_UPSERT = prepared("risk_payer_link", _upsert)


class SqlPayerLinkRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def link(self, payer_hash: str, user_id: str, paid_at: datetime) -> None:
        await self._c.write(_UPSERT, payer_hash=payer_hash, user_id=user_id, paid_at=paid_at)
