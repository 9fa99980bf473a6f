"""The SQL payment session repository (`ports.repositories.SessionRepository`): sessions by id,
by provider order id and by transaction, the instructions attached after the order is opened,
and the sweeps of sessions due for a status check or for expiry."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from adapters.sql import mapping
from adapters.sql.context import SqlContext, select_by
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import payment_sessions
from domain.session import PaymentSession, SessionStatus

_OPEN = SessionStatus.OPEN.value

_ATTACH = prepared("attach_instructions", lambda dialect: (
    payment_sessions.update()
    .where(payment_sessions.c.id == sa.bindparam("id"), payment_sessions.c.status == _OPEN)
    .values({**bind_all(("payment_url", "qr_code", "provider_reference", "updated_at")),
             "version": payment_sessions.c.version + 1})
    .returning(payment_sessions.c.version)), relaxed_commit=True)  # if lost, the order is opened again


class SqlSessionRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def add(self, session: PaymentSession) -> None:
        await self._c.insert_aggregate(payment_sessions, mapping.session_to_row(session), session)

    async def get(self, session_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> PaymentSession | None:
        row = await self._c.by_id(payment_sessions, session_id, user_id, for_update)
        return None if row is None else mapping.session_from_row(row)

    async def get_by_order_id(self, order_id: str, *, for_update: bool = False) -> PaymentSession | None:
        row = await self._c.one(select_by(payment_sessions, "order_id", for_update=for_update), order_id=order_id)
        return None if row is None else mapping.session_from_row(row)

    async def update(self, session: PaymentSession) -> None:
        await self._c.update_aggregate(payment_sessions, mapping.session_to_row(session), session)

    async def attach_instructions(self, session: PaymentSession) -> bool:
        return await self._c.one(_ATTACH, id=session.id, payment_url=session.payment_url, qr_code=session.qr_code,
                                 provider_reference=session.provider_reference,
                                 updated_at=session.updated_at) is not None

    async def list_for_transaction(self, transaction_id: str, *, for_update: bool = False) -> list[PaymentSession]:
        s = payment_sessions
        statement = select_by(s, "transaction_id", for_update=for_update, order_by=(s.c.created_at, s.c.id))
        return [mapping.session_from_row(row) for row in await self._c.all(statement, transaction_id=transaction_id)]

    async def list_due_for_check(self, now: datetime, limit: int) -> list[PaymentSession]:
        s = payment_sessions
        query = (sa.select(s).where(s.c.next_check_at.is_not(None), s.c.next_check_at <= now)
                 .order_by(s.c.next_check_at, s.c.id).limit(limit))
        query = self._c.locked(query, of=s, skip_locked=True)
        return [mapping.session_from_row(row) for row in await self._c.fetch_all(query)]

    async def list_due_for_expiry(self, now: datetime, limit: int) -> list[PaymentSession]:
        s = payment_sessions
        query = (sa.select(s).where(s.c.status == _OPEN, s.c.expires_at <= now)
                 .order_by(s.c.expires_at, s.c.id).limit(limit))
        query = self._c.locked(query, of=s, skip_locked=True)
        return [mapping.session_from_row(row) for row in await self._c.fetch_all(query)]
