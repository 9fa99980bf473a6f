"""One app per storage for the end-to-end tests of issue 12's reads (cursor pagination, the
receives ledger, transactions read as expired): the real app on the `clock` fixture, served by a
real test server, over the in-memory adapters, SQLite (a migrated file) and PostgreSQL (the
session's database, emptied), the SQL ones built as `payments serve` builds them. Import the
fixtures (`stored_api`, `storage`) into a test module to use them."""
from __future__ import annotations

import pytest
import sqlalchemy as sa
from dependency_injector import providers
from e2e_support import JWT_SECRET, MOCK_SECRET

from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage(request) -> str | None:
    """None for the in-memory adapters, else the database URL of a fresh SQLite file or of a clean
    PostgreSQL database."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "clean_postgres_url")


@pytest.fixture
async def stored_api(storage, make_api, api, aiohttp_client, tmp_path, clock):
    """The app on the fixed `clock` over `storage`, with the `api` fixture's client helpers; no
    background jobs (no sweep runs unless a test runs it)."""
    if storage is None:
        return await make_api(clock=clock)
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test", "PAYMENTS_DATABASE_URL": storage,
                          "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3")})
    container = build_container(config)
    container.adapters.clock.override(providers.Object(clock))
    return type(api)(await aiohttp_client(create_app(container, background_jobs=False)), container)


def row_count(url: str, table: sa.Table) -> int:
    """How many rows `table` (of `adapters.sql.tables`) of the database at `url` holds."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    finally:
        engine.dispose()
