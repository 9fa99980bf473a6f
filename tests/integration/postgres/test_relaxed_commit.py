"""Relaxed commits (`adapters.sql.statements`, `relaxed_commit`) on PostgreSQL: the idempotency
records are committed at once and visible to every other connection, and the relaxed setting
stays with the one statement's transaction: the pooled connection that ran it commits the next
unit of work synchronously again."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.sql import SqlIdempotencyStore, create_database, sql_uow_factory
from adapters.sql.unit_of_work import autocommit
from ports.idempotency import IdempotencyClaim, IdempotencyScope, StoredResponse

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=timezone.utc)


async def test_a_relaxed_write_is_committed_and_leaves_its_connection_synchronous(clean_postgres_url: str) -> None:
    database = create_database(clean_postgres_url, min_size=1, max_size=1)  # one connection: the same one
    other = create_database(clean_postgres_url, min_size=1, max_size=1)
    await database.connect()
    await other.connect()
    try:
        store = SqlIdempotencyStore(database)
        scope = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
        claim = await store.begin(scope, "fingerprint", NOW, timedelta(seconds=30))
        assert isinstance(claim, IdempotencyClaim)
        assert await store.complete(claim, StoredResponse(201, b'{"ok":true}', {}), NOW)

        async with autocommit(database) as db:
            assert await db.connection.raw_connection.fetchval("SHOW synchronous_commit") == "on"
        async with sql_uow_factory(database)() as uow:
            setting = await uow._context.connection.raw_connection.fetchval("SHOW synchronous_commit")
        assert setting == "on"
        stored = await SqlIdempotencyStore(other).begin(scope, "fingerprint", NOW, timedelta(seconds=30))
        assert stored == StoredResponse(201, b'{"ok":true}', {})
    finally:
        await database.disconnect()
        await other.disconnect()
