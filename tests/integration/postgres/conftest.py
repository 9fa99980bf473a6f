"""Live PostgreSQL fixtures: the real application built by the real composition root over the SQL
adapter (`build_container(config)`, as `payments serve` builds it), served on a free port of
127.0.0.1 whose URL is its PAYMENTS_PUBLIC_URL. Several apps made in one test share the database
and the mock provider's remote side (its SQLite state file), as several server processes do."""
from __future__ import annotations

import asyncio

import aiohttp
import attrs
import pytest
from dependency_injector import providers

from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.http.keys import PROVIDERS, USE_CASES
from live import Service, free_port

JWT_SECRET = "postgres-live-test-secret-0123456789abcdef"
MOCK_SECRET = "postgres-live-mock-secret"


@attrs.frozen
class SqlApp:
    service: Service
    container: object
    app: object

    @property
    def mock(self):
        return self.app[PROVIDERS].get("mock")

    @property
    def use_cases(self):
        return self.app[USE_CASES]


@pytest.fixture
async def make_sql_app(aiohttp_server, tmp_path):
    """`await make_sql_app(database_url, clock=None, **PAYMENTS_*)` → a served `SqlApp`."""
    made: list[SqlApp] = []
    http = aiohttp.ClientSession()

    async def make(database_url: str, *, clock=None, **overrides: str) -> SqlApp:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = load_config({
            "PAYMENTS_DATABASE_URL": database_url, "PAYMENTS_JWT_SECRET": JWT_SECRET,
            "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET, "PAYMENTS_PUBLIC_URL": base_url,
            "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock-remote.sqlite3"), **overrides})
        container = build_container(config)
        if clock is not None:
            container.adapters.clock.override(providers.Object(clock))
        server = await aiohttp_server(create_app(container, background_jobs=False), port=port)
        made.append(SqlApp(Service(http, base_url, JWT_SECRET), container, server.app))
        return made[-1]

    yield make
    for sql_app in made:
        await asyncio.wait_for(sql_app.mock.wait_for_deliveries(), 30)
    await http.close()


@pytest.fixture
async def browser():
    """The payer's browser: a plain HTTP client with no token, opening absolute URLs."""
    async with aiohttp.ClientSession() as session:
        yield session
