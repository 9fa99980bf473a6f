"""The HTTP client that provider plugins share, made on first use.

Plugins receive an `httpx.AsyncClient`-like object at start-up, but a worker whose providers
never call out (the mock answers in-process) should not pay for httpx: importing it and making
a client cost about 7 MB per process. `LazyHttpClient` stands in for the client and creates the
real one (imports httpx) the first time a plugin uses it.
"""
from __future__ import annotations

from typing import Any

TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0


class LazyHttpClient:
    """Delegates every attribute to an `httpx.AsyncClient` created on first access."""

    def __init__(self) -> None:
        self._client: Any = None

    def _real(self) -> Any:
        if self._client is None:
            import httpx

            self._client = httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS))
        return self._client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
