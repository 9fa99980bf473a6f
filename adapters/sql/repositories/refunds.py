"""The SQL refund repository (`ports.repositories.RefundRepository`): refunds by id, by provider
refund order id and by transaction, and the pending ones due for a follow-up (claimed with
`FOR UPDATE SKIP LOCKED` through the partial index `ix_payment_refunds_follow_up`)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql import mapping
from adapters.sql.context import SqlContext, select_by
from adapters.sql.tables import payment_refunds
from domain.refund import Refund, RefundStatus

_PENDING = RefundStatus.PENDING.value


class SqlRefundRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, refund: Refund) -> None:
        await self._c.insert_aggregate(payment_refunds, mapping.refund_to_row(refund), refund)

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        row = await self._c.by_id(payment_refunds, refund_id, None, for_update)
        return None if row is None else mapping.refund_from_row(row)

    async def update(self, refund: Refund) -> None:
        await self._c.update_aggregate(payment_refunds, mapping.refund_to_row(refund), refund)

    async def get_by_refund_order_id(self, refund_order_id: str, *, for_update: bool = False) -> Refund | None:
        row = await self._c.one(select_by(payment_refunds, "refund_order_id", for_update=for_update),
                                refund_order_id=refund_order_id)
        return None if row is None else mapping.refund_from_row(row)

    async def claim_follow_ups(self, now: datetime, limit: int) -> list[Refund]:
        r = payment_refunds
        query = (sa.select(r).where(r.c.status == _PENDING, r.c.next_attempt_at <= now)
                 .order_by(r.c.next_attempt_at, r.c.id).limit(limit))
        rows = await self._c.fetch_all(self._c.locked(query, of=r, skip_locked=True))
        self._c.hold(r, rows)
        return [mapping.refund_from_row(row) for row in rows]

    async def list_for_transaction(self, transaction_id: str) -> list[Refund]:
        r = payment_refunds
        query = sa.select(r).where(r.c.transaction_id == transaction_id).order_by(r.c.created_at, r.c.id)
        return [mapping.refund_from_row(row) for row in await self._c.fetch_all(query)]
