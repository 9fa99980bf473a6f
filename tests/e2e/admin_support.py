"""Helpers of the operators' end-to-end tests (tests/e2e/test_admin_*.py): the e2e settings and a
client with tokens, importable by name (each test directory has its own conftest)."""
from __future__ import annotations

from e2e_support import JWT_SECRET, MOCK_SECRET

from entrypoints.cli import mint_token
from entrypoints.config import load_config

ADMIN = "/api/v1/admin"


def admin_config(**overrides: str):
    return load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                        "PAYMENTS_PUBLIC_URL": "http://payments.test", **overrides})


class Client:
    """`await client.get(path, user=…, role=…)` / `post` with a bearer token (None: no token)."""

    def __init__(self, http, container) -> None:
        self.client = http
        self.container = container

    @staticmethod
    def headers(user: str | None, role: str | None, extra: dict | None) -> dict:
        headers = dict(extra or {})
        if user is not None:
            headers["Authorization"] = f"Bearer {mint_token(JWT_SECRET, user, role, 3600)}"
        return headers

    async def get(self, path: str, *, user: str | None = "u1", role: str | None = None, headers=None, **kwargs):
        return await self.client.get(path, headers=self.headers(user, role, headers), **kwargs)

    async def post(self, path: str, json=None, *, user: str | None = "u1", role: str | None = None, headers=None):
        return await self.client.post(path, json=json, headers=self.headers(user, role, headers))

    async def admin(self, path: str, **params) -> dict:
        """An admin's GET that must answer 200: its JSON."""
        response = await self.get(path, user="ops", role="admin", params=params)
        assert response.status == 200, await response.text()
        return await response.json()
