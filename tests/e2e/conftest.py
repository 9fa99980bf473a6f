"""End-to-end fixtures: the real aiohttp application served by a real test server, built by the
real composition root with the in-memory adapters (PostgreSQL and SQLite variants run the same
app over the SQL adapter in tests/integration)."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dependency_injector import providers

from adapters.clock import FixedClock
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app

JWT_SECRET = "e2e-test-secret-that-is-long-enough-0123456789"
MOCK_SECRET = "e2e-mock-secret"


class Api:
    """A test client with tokens: `await api.post(path, json, user=…)` etc."""

    def __init__(self, client, container) -> None:
        self.client = client
        self.container = container

    @staticmethod
    def token(user: str = "u1", role: str | None = None, ttl: int = 3600) -> str:
        return mint_token(JWT_SECRET, user, role, ttl)

    def headers(self, user: str | None, role: str | None = None, **extra: str) -> dict:
        headers = dict(extra)
        if user is not None:
            headers["Authorization"] = f"Bearer {self.token(user, role)}"
        return headers

    async def get(self, path: str, *, user: str | None = "u1", role: str | None = None, **kwargs):
        return await self.client.get(path, headers=self.headers(user, role, **kwargs.pop("headers", {})), **kwargs)

    async def post(self, path: str, json=None, *, user: str | None = "u1", role: str | None = None, **kwargs):
        return await self.client.post(path, json=json, headers=self.headers(user, role, **kwargs.pop("headers", {})),
                                      **kwargs)


def e2e_config(**overrides: str):
    environ = {"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
               "PAYMENTS_PUBLIC_URL": "http://payments.test", **overrides}
    return load_config(environ)


@pytest.fixture
async def api(aiohttp_client):
    container = build_container(e2e_config(), in_memory=True)
    client = await aiohttp_client(create_app(container, background_jobs=False))
    return Api(client, container)


@pytest.fixture
def make_api(aiohttp_client):
    """Another app: `await make_api(clock=FixedClock(...), PAYMENTS_MAX_PENDING="1")` builds one with
    those settings (and, with `clock`, that clock everywhere: use cases, idempotency, the mock)."""
    async def make(*, clock=None, **overrides: str) -> Api:
        container = build_container(e2e_config(**overrides), in_memory=True)
        if clock is not None:
            for in_memory_adapters in container.adapters.overridden:  # the mock plugin reads this clock too
                in_memory_adapters.provides.clock.override(providers.Object(clock))
        client = await aiohttp_client(create_app(container, background_jobs=False))
        return Api(client, container)
    return make


@pytest.fixture
def clock() -> FixedClock:
    """A clock that stands still (a Sunday, 2026-03-01 00:00 UTC) until a test moves it."""
    return FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))


@pytest.fixture
async def fixed_api(make_api, clock) -> Api:
    """The app on the `clock` fixture's fixed clock."""
    return await make_api(clock=clock)
