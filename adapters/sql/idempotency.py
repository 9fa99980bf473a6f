"""The SQL idempotency store (`ports.idempotency.IdempotencyStore`), shared by every process of
the service through the `idempotency_keys` table.

`begin` is atomic across processes: the claim is an `INSERT … ON CONFLICT DO NOTHING` on the
(user, endpoint, key) primary key, and an existing row is examined under `SELECT … FOR UPDATE`
(PostgreSQL) or the write lock (SQLite) in the same short transaction. A claim holds a lease
(`locked_until`); once the lease has run out (its process died) another request may take it
over. Each call is its own transaction, never part of a unit of work.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from databases import Database

from adapters.sql.mapping import as_utc
from adapters.sql.tables import idempotency_keys
from adapters.sql.unit_of_work import database_transaction
from domain.errors import IdempotencyKeyReusedError, IdempotencyRequestInProgressError
from ports.idempotency import IdempotencyClaim, IdempotencyScope, StoredResponse

_K = idempotency_keys


def _where(scope: IdempotencyScope) -> sa.ColumnElement[bool]:
    return sa.and_(_K.c.user_id == scope.user_id, _K.c.endpoint == scope.endpoint, _K.c.key == scope.key)


def _held(claim: IdempotencyClaim) -> sa.ColumnElement[bool]:
    """The row of `claim`'s scope while `claim` still holds it (not completed, not taken over)."""
    return sa.and_(_where(claim.scope), _K.c.response_status.is_(None), _K.c.locked_until == claim.token)


class SqlIdempotencyStore:
    """See the module docstring. `now` and `lease` come from the caller's clock, as in the port."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def begin(self, scope: IdempotencyScope, fingerprint: str, now: datetime,
                    lease: timedelta) -> StoredResponse | IdempotencyClaim:
        for _ in range(3):  # a row released between our INSERT and SELECT: claim again
            async with database_transaction(self._database) as db:
                claim = (db.insert(_K)
                         .values(user_id=scope.user_id, endpoint=scope.endpoint, key=scope.key,
                                 fingerprint=fingerprint, locked_until=now + lease, created_at=now)
                         .on_conflict_do_nothing().returning(_K.c.key))
                if await db.fetch_one(claim) is not None:
                    return IdempotencyClaim(scope, now + lease)
                row = await db.fetch_one(db.locked(sa.select(_K).where(_where(scope)), of=_K))
                if row is None:
                    continue
                if row["fingerprint"] != fingerprint:
                    raise IdempotencyKeyReusedError()
                if row["response_status"] is not None:
                    headers = json.loads(row["response_headers"]) if row["response_headers"] else {}
                    return StoredResponse(int(row["response_status"]), bytes(row["response_body"] or b""), headers)
                locked_until = row["locked_until"]
                if locked_until is not None and as_utc(locked_until) > now:
                    raise IdempotencyRequestInProgressError()
                await db.execute(_K.update().where(_where(scope)).values(locked_until=now + lease))
                return IdempotencyClaim(scope, now + lease)  # the first one's lease ran out: taken over
        raise RuntimeError(f"idempotency key {scope.key!r} kept disappearing while being claimed")

    async def complete(self, claim: IdempotencyClaim, response: StoredResponse, now: datetime) -> bool:
        async with database_transaction(self._database) as db:
            query = (_K.update().where(_held(claim))
                     .values(response_status=response.status, response_body=bytes(response.body),
                             response_headers=json.dumps(dict(response.headers), sort_keys=True),
                             locked_until=None, completed_at=now)
                     .returning(_K.c.key))
            return await db.fetch_one(query) is not None

    async def release(self, claim: IdempotencyClaim) -> None:
        async with database_transaction(self._database) as db:
            await db.execute(_K.delete().where(_held(claim)))

    async def purge(self, older_than: datetime) -> int:
        async with database_transaction(self._database) as db:
            deleted = await db.fetch_all(_K.delete().where(_K.c.created_at < older_than).returning(_K.c.key))
        return len(deleted)
