"""The SQL idempotency store (`ports.idempotency.IdempotencyStore`), shared by every process of
the service through the `idempotency_keys` table.

`begin` is atomic across processes: the claim is an `INSERT … ON CONFLICT DO NOTHING` on the
(user, endpoint, key) primary key, and an existing row is examined under `SELECT … FOR UPDATE`
(PostgreSQL) or the write lock (SQLite) in the same short transaction. A claim holds a lease
(`locked_until`); once the lease has run out (its process died) another request may take it
over. Each call is its own transaction, never part of a unit of work.

The claim and the stored response are committed without waiting for the disk (`relaxed_commit`
in `adapters.sql.statements`): a crash can lose them only together with nothing the request
committed after them, and a lost one makes the client's retry run the request again, which
resumes what it created (`ports.use_cases.sessions.provider_orders.RequestIds`) instead of repeating it.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta

import sqlalchemy as sa
from databases import Database

from adapters.sql.mapping import as_utc
from adapters.sql.tables import idempotency_keys
from adapters.sql.statements import bind_all, prepared
from adapters.sql.connections import autocommit, database_transaction
from domain.errors import IdempotencyKeyReusedError, IdempotencyRequestInProgressError
from ports.idempotency import IdempotencyClaim, IdempotencyScope, StoredResponse

_K = idempotency_keys


def _where(scope: IdempotencyScope) -> sa.ColumnElement[bool]:
    return sa.and_(_K.c.user_id == scope.user_id, _K.c.endpoint == scope.endpoint, _K.c.key == scope.key)


_CLAIM = prepared("idempotency_claim", lambda dialect: (
    dialect.insert(_K)
    .values(bind_all(("user_id", "endpoint", "key", "fingerprint", "locked_until", "created_at")))
    .on_conflict_do_nothing().returning(_K.c.key)), relaxed_commit=True)
_HELD = sa.and_(_K.c.user_id == sa.bindparam("s_user"), _K.c.endpoint == sa.bindparam("s_endpoint"),
                _K.c.key == sa.bindparam("s_key"), _K.c.response_status.is_(None),
                _K.c.locked_until == sa.bindparam("s_token", type_=_K.c.locked_until.type))
_COMPLETE = prepared("idempotency_complete", lambda dialect: (
    _K.update().where(_HELD).values(response_status=sa.bindparam("response_status"),
                                    response_body=sa.bindparam("response_body"),
                                    response_headers=sa.bindparam("response_headers"), locked_until=None,
                                    completed_at=sa.bindparam("completed_at")).returning(_K.c.key)),
    relaxed_commit=True)
_RELEASE = prepared("idempotency_release", lambda dialect: _K.delete().where(_HELD))


def _scope_values(claim: IdempotencyClaim) -> dict:
    scope = claim.scope
    return {"s_user": scope.user_id, "s_endpoint": scope.endpoint, "s_key": scope.key, "s_token": claim.token}


class SqlIdempotencyStore:
    """See the module docstring. `now` and `lease` come from the caller's clock, as in the port."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def begin(self, scope: IdempotencyScope, fingerprint: str, now: datetime,
                    lease: timedelta) -> StoredResponse | IdempotencyClaim:
        async with autocommit(self._database) as db:  # the common case: a new key, one statement
            if await db.one(_CLAIM, user_id=scope.user_id, endpoint=scope.endpoint, key=scope.key,
                            fingerprint=fingerprint, locked_until=now + lease, created_at=now) is not None:
                return IdempotencyClaim(scope, now + lease)
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
        async with autocommit(self._database) as db:
            return await db.one(_COMPLETE, **_scope_values(claim), response_status=response.status,
                                response_body=bytes(response.body), completed_at=now,
                                response_headers=json.dumps(dict(response.headers), sort_keys=True)) is not None

    async def release(self, claim: IdempotencyClaim) -> None:
        async with autocommit(self._database) as db:
            await db.run(_RELEASE, **_scope_values(claim))

    async def purge(self, older_than: datetime) -> int:
        async with database_transaction(self._database) as db:
            deleted = await db.fetch_all(_K.delete().where(_K.c.created_at < older_than).returning(_K.c.key))
        return len(deleted)
