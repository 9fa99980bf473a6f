"""End-to-end fixtures: the real aiohttp application served by a real test server, built by the
real composition root with the in-memory adapters (PostgreSQL and SQLite variants run the same
app over the SQL adapter in tests/integration)."""
from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp
import httpx
import pytest
from dependency_injector import providers

from adapters.clock import FixedClock, SystemClock
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.http.keys import USE_CASES
from live import FAST_REDELIVERY, free_port
from plugins.mock import MockProvider

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
                in_memory_adapters.provides.clock.override(providers.Object(clock))  # business time
                in_memory_adapters.provides.real_clock.override(providers.Object(clock))  # plugins, keys
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


class LiveApi(Api):
    """An app served on a real port (`base_url`, which is also its PAYMENTS_PUBLIC_URL), so the mock
    provider's checkout page and its notifications reach it over HTTP as a real provider's would."""

    def __init__(self, client, container, base_url: str, mock: MockProvider) -> None:
        super().__init__(client, container)
        self.base_url = base_url
        self.mock = mock

    @property
    def app(self):
        return self.client.server.app

    @property
    def use_cases(self):
        """The app's use cases (`expire_sessions`, `reconcile_payments`, …), as its background jobs call them."""
        return self.app[USE_CASES]


@pytest.fixture
async def make_live_api(aiohttp_server, aiohttp_client):
    """`await make_live_api(clock=…, lose_notifications=…, background_jobs=…, redelivery_delays=…,
    **PAYMENTS_*)`: the real app (in-memory adapters) served on a free port of 127.0.0.1 with
    PAYMENTS_PUBLIC_URL pointing at it (background jobs off unless asked). Its mock provider sends
    each notification over HTTP to the app's own webhook, re-sending after `redelivery_delays`
    (short here) until acknowledged; `lose_notifications=True` sends none. At the end,
    notifications still in flight are awaited (bounded) before the servers stop."""
    made: list[tuple[MockProvider, httpx.AsyncClient]] = []

    async def make(*, clock=None, lose_notifications: bool = False, background_jobs: bool = False,
                   redelivery_delays: tuple[float, ...] = FAST_REDELIVERY, **overrides: str) -> LiveApi:
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        config = e2e_config(PAYMENTS_PUBLIC_URL=base_url, **overrides)
        container = build_container(config, in_memory=True)
        http = httpx.AsyncClient(timeout=5.0)
        mocks = {name: MockProvider(webhook_secret=MOCK_SECRET, public_url=config.public_url,
                                    clock=clock or SystemClock(), name=name, http=http,
                                    redelivery_delays=redelivery_delays, lose_notifications=lose_notifications)
                 for name in set(config.method_routes.values()) | {"mock"}}
        made.append((mocks["mock"], http))
        for in_memory_adapters in container.adapters.overridden:
            if clock is not None:
                in_memory_adapters.provides.clock.override(providers.Object(clock))
            in_memory_adapters.provides.payment_providers.override(providers.Object(mocks))
        server = await aiohttp_server(create_app(container, background_jobs=background_jobs), port=port)
        client = await aiohttp_client(server)
        return LiveApi(client, container, base_url, mocks["mock"])

    yield make
    for mock, http in made:
        await asyncio.wait_for(mock.wait_for_deliveries(), 30)
        await http.aclose()


@pytest.fixture
async def live_api(make_live_api) -> LiveApi:
    """The app served on a real port, on the system clock."""
    return await make_live_api()


@pytest.fixture
async def browser():
    """The payer's browser: a plain HTTP client with no token, opening absolute URLs."""
    async with aiohttp.ClientSession() as session:
        yield session
