"""`ports.repositories.InstructionsRepository` on SQL: where and how to pay, attached to a session
after its provider order was opened, in one conditional UPDATE in autocommit (no unit of work:
no BEGIN/COMMIT round trips). It waits for a unit of work holding the session's row lock."""
from __future__ import annotations

import sqlalchemy as sa
from databases import Database

from adapters.sql.connections import autocommit
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import payment_sessions
from domain.session import PaymentSession, SessionStatus

_ATTACH = prepared("attach_instructions", lambda dialect: (
    payment_sessions.update()
    .where(payment_sessions.c.id == sa.bindparam("id"), payment_sessions.c.status == SessionStatus.OPEN.value)
    .values({**bind_all(("payment_url", "qr_code", "provider_reference", "updated_at")),
             "version": payment_sessions.c.version + 1})
    .returning(payment_sessions.c.version)), relaxed_commit=True)  # if lost, the order is opened again


class SqlInstructions:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def attach(self, session: PaymentSession) -> bool:
        async with autocommit(self._database) as db:
            return await db.one(_ATTACH, id=session.id, payment_url=session.payment_url, qr_code=session.qr_code,
                                provider_reference=session.provider_reference,
                                updated_at=session.updated_at) is not None
