"""End-to-end fixtures: the real aiohttp application served by a real test server, built by the
real composition root with the in-memory adapters (PostgreSQL and SQLite variants run the same
app over the SQL adapter in tests/integration)."""
from __future__ import annotations

import pytest

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
