"""Relaxed commits (`adapters.sql.statements`, `relaxed_commit`) on PostgreSQL: the statement
turns `synchronous_commit` off for its own transaction only, and the idempotency records written
that way are committed and visible to every other connection."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import asyncpg
import pytest
import sqlalchemy as sa

from adapters.sql.database import create_database
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.statements import prepared
from adapters.sql.tables import idempotency_keys
from ports.idempotency import IdempotencyClaim, IdempotencyScope, StoredResponse

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=timezone.utc)


async def test_a_relaxed_statement_relaxes_its_own_transaction_only(clean_postgres_url: str) -> None:
    relaxed = prepared("test_relaxed_delete", lambda dialect: (
        idempotency_keys.delete().where(idempotency_keys.c.key == sa.bindparam("key")).returning(idempotency_keys.c.key)),
        relaxed_commit=True)
    sql, _, _ = relaxed.postgres()
    connection = await asyncpg.connect(clean_postgres_url)
    try:
        await connection.execute(
            "INSERT INTO idempotency_keys (user_id, endpoint, key, fingerprint, created_at) "
            "VALUES ('alice', 'POST /x', 'key-1', 'f', now())")
        async with connection.transaction():
            # (A statement that writes nothing has nothing to flush and may leave it on.)
            assert await connection.fetch(sql, "key-1") != []
            assert await connection.fetchval("SHOW synchronous_commit") == "off"
        assert await connection.fetchval("SHOW synchronous_commit") == "on"
    finally:
        await connection.close()


async def test_relaxed_idempotency_records_are_committed_for_every_connection(clean_postgres_url: str) -> None:
    database = create_database(clean_postgres_url, min_size=1, max_size=1)
    other = create_database(clean_postgres_url, min_size=1, max_size=1)
    await database.connect()
    await other.connect()
    try:
        store = SqlIdempotencyStore(database)
        scope = IdempotencyScope("alice", "POST /api/v1/payments/receives", "key-1")
        claim = await store.begin(scope, "fingerprint", NOW, timedelta(seconds=30))
        assert isinstance(claim, IdempotencyClaim)
        assert await store.complete(claim, StoredResponse(201, b'{"ok":true}', {}), NOW)
        stored = await SqlIdempotencyStore(other).begin(scope, "fingerprint", NOW, timedelta(seconds=30))
        assert stored == StoredResponse(201, b'{"ok":true}', {})
    finally:
        await database.disconnect()
        await other.disconnect()
