"""The SQL repositories of saved payment methods (`ports.repositories.SavedMethodRepository`, over
`payment_methods`) and of each user's customer at a provider (`ProviderCustomerRepository`, over
`provider_customers`); docs/saved-methods.md.

Saving is idempotent by the unique (provider, provider_token): an insert that finds it taken
answers the stored row. The one-default rule is the unique partial index
`ux_payment_methods_one_default`; a new default is set by clearing the old one and setting the new
one in the caller's unit of work (two statements, one database transaction: atomic), the clear
first, since a unique index is checked row by row.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql.context import SqlContext
from adapters.sql.mapping import as_utc
from adapters.sql.tables import payment_methods, payment_sessions, provider_customers
from domain.saved_method import SavedMethod
from ports.repositories import DuplicateKeyError

_AWAITING = "save_method AND method_saved_at IS NULL AND status = 'completed'"  # the partial index's own words
m = payment_methods


def _to_row(method: SavedMethod) -> dict[str, Any]:
    return {"id": method.id, "user_id": method.user_id, "provider": method.provider,
            "method_type": method.payment_method, "provider_token": method.token, "brand": method.brand,
            "last4": method.last4, "exp_month": method.exp_month, "exp_year": method.exp_year,
            "label": method.label, "is_default": method.is_default, "created_at": method.created_at,
            "updated_at": method.updated_at, "deleted_at": method.deleted_at, "version": method.version}


def _from_row(row: Mapping[str, Any]) -> SavedMethod:
    return SavedMethod(id=row["id"], user_id=row["user_id"], provider=row["provider"],
                       payment_method=row["method_type"], token=row["provider_token"], label=row["label"] or "",
                       brand=row["brand"], last4=row["last4"], exp_month=row["exp_month"],
                       exp_year=row["exp_year"], is_default=bool(row["is_default"]),
                       created_at=as_utc(row["created_at"]), updated_at=as_utc(row["updated_at"]),
                       deleted_at=as_utc(row["deleted_at"]), version=row["version"])


class SqlSavedMethodRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def _by_token(self, provider: str, token: str) -> SavedMethod | None:
        row = await self._c.fetch_one(sa.select(m).where(m.c.provider == provider, m.c.provider_token == token))
        return None if row is None else _from_row(row)

    async def add(self, method: SavedMethod) -> SavedMethod:
        stored = await self._by_token(method.provider, method.token)
        if stored is not None:
            return stored
        try:
            await self._c.insert_aggregate(m, _to_row(method), method)
        except DuplicateKeyError:
            stored = await self._by_token(method.provider, method.token)  # saved meanwhile by another process
            if stored is None:
                raise
            return stored
        return method

    async def get(self, method_id: str, *, user_id: str | None = None, for_update: bool = False) -> SavedMethod | None:
        row = await self._c.by_id(m, method_id, user_id, for_update)
        return None if row is None else _from_row(row)

    async def list_for_user(self, user_id: str) -> list[SavedMethod]:
        rows = await self._c.fetch_all(sa.select(m).where(m.c.user_id == user_id, m.c.deleted_at.is_(None))
                                       .order_by(m.c.created_at.desc(), m.c.id.desc()))
        return [_from_row(row) for row in rows]

    async def has_default(self, user_id: str) -> bool:
        return await self._c.fetch_val(sa.select(m.c.id).where(
            m.c.user_id == user_id, m.c.is_default, m.c.deleted_at.is_(None)).limit(1)) is not None

    async def set_default(self, user_id: str, method_id: str, now: datetime) -> None:
        mine = (m.c.user_id == user_id, m.c.deleted_at.is_(None))
        await self._c.execute(m.update().where(*mine, m.c.is_default, m.c.id != method_id)
                              .values(is_default=False, updated_at=now, version=m.c.version + 1))
        await self._c.execute(m.update().where(*mine, m.c.id == method_id, sa.not_(m.c.is_default))
                              .values(is_default=True, updated_at=now, version=m.c.version + 1))

    async def update(self, method: SavedMethod) -> None:
        await self._c.update_aggregate(m, _to_row(method), method)

    async def awaiting_method(self, completed_before: datetime, limit: int) -> list[tuple[str, str]]:
        s = payment_sessions
        rows = await self._c.fetch_all(sa.select(s.c.transaction_id, s.c.id).where(
            sa.text(_AWAITING), s.c.completed_at <= completed_before)
            .order_by(s.c.completed_at.desc(), s.c.id.desc()).limit(limit))
        return [(row["transaction_id"], row["id"]) for row in rows]


class SqlProviderCustomerRepository:
    def __init__(self, context: SqlContext) -> None:
        self._c = context

    async def get(self, user_id: str, provider: str) -> str | None:
        c = provider_customers
        return await self._c.fetch_val(sa.select(c.c.customer_reference).where(
            c.c.user_id == user_id, c.c.provider == provider))

    async def add(self, user_id: str, provider: str, customer_reference: str, now: datetime) -> str:
        await self._c.execute(self._c.insert(provider_customers).values(
            user_id=user_id, provider=provider, customer_reference=customer_reference, created_at=now)
            .on_conflict_do_nothing())
        stored = await self.get(user_id, provider)
        assert stored is not None
        return stored
