"""The read side of refunds and the audit log on SQL (`ports.refund_queries.RefundQueries`): each
read one statement (a page, with its total counted by a window) on a connection in autocommit.

A user's refunds walk `ix_payment_refunds_user` (user_id, created_at, id); the admin queue by
status `ix_payment_refunds_status` (status, created_at, id); the audit log `ix_audit_log_created`,
or by actor / object their own indexes."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from adapters.sql import mapping
from adapters.sql.connections import autocommit
from adapters.sql.tables import audit_log, payment_refunds
from domain.audit import AuditEntry
from domain.refund import Refund
from ports.refund_queries import AuditQuery, RefundQuery


class SqlRefundQueries:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def refund(self, refund_id: str, *, user_id: str | None = None) -> Refund | None:
        r = payment_refunds
        query = sa.select(r).where(r.c.id == refund_id)
        if user_id is not None:
            query = query.where(r.c.user_id == user_id)
        async with autocommit(self._database) as db:
            row = await db.fetch_one(query)
        return None if row is None else mapping.refund_from_row(row)

    async def refunds(self, query: RefundQuery) -> tuple[list[Refund], int]:
        r = payment_refunds
        order = (r.c.created_at, r.c.id) if query.oldest_first else (r.c.created_at.desc(), r.c.id.desc())
        rows, total = await self._page(r, _refund_conditions(query), order, query.offset, query.limit)
        return [mapping.refund_from_row(row) for row in rows], total

    async def refunds_after(self, query: RefundQuery, starting_after: str) -> tuple[list[Refund], bool] | None:
        r = payment_refunds
        cursor = await self.refund(starting_after, user_id=query.user_id)
        if cursor is None:
            return None
        key = sa.tuple_(r.c.created_at, r.c.id)
        after = sa.tuple_(sa.literal(cursor.created_at, r.c.created_at.type), sa.literal(cursor.id))
        conditions = [*_refund_conditions(query), key > after if query.oldest_first else key < after]
        order = (r.c.created_at, r.c.id) if query.oldest_first else (r.c.created_at.desc(), r.c.id.desc())
        async with autocommit(self._database) as db:
            rows = await db.fetch_all(sa.select(r).where(*conditions).order_by(*order).limit(query.limit + 1))
        return [mapping.refund_from_row(row) for row in rows[:query.limit]], len(rows) > query.limit

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        r = payment_refunds
        query = sa.select(r).where(r.c.transaction_id == transaction_id).order_by(r.c.created_at, r.c.id)
        async with autocommit(self._database) as db:
            return [mapping.refund_from_row(row) for row in await db.fetch_all(query)]

    async def audit_log(self, query: AuditQuery) -> tuple[list[AuditEntry], int]:
        a = audit_log
        rows, total = await self._page(a, _audit_conditions(query), (a.c.created_at.desc(), a.c.id.desc()), query.offset,
                                       query.limit)
        return [mapping.audit_entry_from_row(row) for row in rows], total

    async def audit_log_after(self, query: AuditQuery, starting_after: str) -> tuple[list[AuditEntry], bool] | None:
        a = audit_log
        async with autocommit(self._database) as db:
            cursor = await db.fetch_one(sa.select(a.c.id, a.c.created_at).where(a.c.id == starting_after))
            if cursor is None:
                return None
            older = sa.tuple_(a.c.created_at, a.c.id) < sa.tuple_(
                sa.literal(mapping.as_utc(cursor["created_at"]), a.c.created_at.type), sa.literal(cursor["id"]))
            rows = await db.fetch_all(sa.select(a).where(*_audit_conditions(query), older)
                                      .order_by(a.c.created_at.desc(), a.c.id.desc()).limit(query.limit + 1))
        return [mapping.audit_entry_from_row(row) for row in rows[:query.limit]], len(rows) > query.limit

    async def _page(self, table: sa.Table, conditions: list[Any], order: tuple, offset: int,
                    limit: int) -> tuple[list[Any], int]:
        """One page and the total in one statement (the total rides on every row); an empty page
        past the end counts apart."""
        query = (sa.select(table, sa.func.count().over().label("total_")).where(*conditions)
                 .order_by(*order).limit(limit).offset(offset))
        async with autocommit(self._database) as db:
            rows = await db.fetch_all(query)
            if rows:
                return list(rows), int(rows[0]["total_"])
            if offset == 0:
                return [], 0
            count = sa.select(sa.func.count()).select_from(table).where(*conditions)
            return [], int((await db.fetch_one(count))[0])


def _refund_conditions(query: RefundQuery) -> list[Any]:
    r = payment_refunds
    conditions: list[Any] = []
    if query.user_id is not None:
        conditions.append(r.c.user_id == query.user_id)
    if query.statuses:
        conditions.append(r.c.status.in_([s.value for s in query.statuses]))
    if query.kinds:
        conditions.append(r.c.kind.in_([k.value for k in query.kinds]))
    if query.provider is not None:
        conditions.append(r.c.provider == query.provider)
    if query.date_from is not None:
        conditions.append(r.c.created_at >= query.date_from)
    if query.date_to is not None:
        conditions.append(r.c.created_at <= query.date_to)
    return conditions


def _audit_conditions(query: AuditQuery) -> list[Any]:
    a = audit_log
    conditions: list[Any] = [column == value for column, value in (
        (a.c.actor, query.actor), (a.c.object_id, query.object_id), (a.c.action, query.action)) if value is not None]
    if query.date_from is not None:
        conditions.append(a.c.created_at >= query.date_from)
    if query.date_to is not None:
        conditions.append(a.c.created_at <= query.date_to)
    return conditions
