"""The adapters under test: every contract test runs once per backend, the in-memory fakes,
SQLite (a migrated temp file) and PostgreSQL (the session's migrated database, emptied).

Each test gets a `contract_support.Backend` wired the way the composition root wires it: the
unit-of-work factory given a post-commit dispatcher, the queries, the instructions and the
idempotency store over the same storage. The SQL adapter is imported only by its own backends,
so the in-memory contract runs even while the SQL adapter does not import.
"""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from adapters.memory import (
    InMemoryIdempotencyStore,
    InMemoryInstructions,
    InMemoryQueries,
    InMemoryStore,
    in_memory_uow_factory,
)
from contract_support import Backend
from domain.events import Event
from ports.events import EventDispatcher


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    events: list[Event] = []
    dispatcher = EventDispatcher([events.extend])
    if request.param == "memory":
        store = InMemoryStore()
        yield Backend("memory", in_memory_uow_factory(store, dispatcher), InMemoryQueries(store),
                      InMemoryInstructions(store), InMemoryIdempotencyStore(), dispatcher, events)
        return

    from adapters.sql.database import create_database
    from adapters.sql.idempotency import SqlIdempotencyStore
    from adapters.sql.instructions import SqlInstructions
    from adapters.sql.queries import SqlQueries
    from adapters.sql.unit_of_work import sql_uow_factory

    if request.param == "sqlite":
        database = create_database(request.getfixturevalue("fresh_sqlite_url"))
    else:
        database = create_database(request.getfixturevalue("clean_postgres_url"), min_size=1, max_size=6)
    await database.connect()
    try:
        yield Backend(request.param, sql_uow_factory(database, dispatcher), SqlQueries(database),
                      SqlInstructions(database), SqlIdempotencyStore(database), dispatcher, events)
    finally:
        await database.disconnect()
