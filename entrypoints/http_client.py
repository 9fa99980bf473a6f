"""The HTTP client that provider plugins share, made on first use.

Plugins receive an `httpx.AsyncClient`-like object at start-up, but a worker whose providers
never call out (the mock answers in-process) should not pay for httpx. `LazyHttpClient` stands in
for the client and creates the real one (imports httpx) the first time a plugin uses it. Once one
exists, httpx loads without its command line (`entrypoints.lean_imports.hide_httpx_cli`): the first
call to a provider adds ~2.7 MB to a worker instead of 6.8 (docs/benchmarks.md, "Memory per worker").
"""
from __future__ import annotations

from typing import Any

from entrypoints.lean_imports import hide_httpx_cli

TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 5.0


class LazyHttpClient:
    """Delegates every attribute to an `httpx.AsyncClient` created on first access."""

    def __init__(self) -> None:
        self._client: Any = None
        hide_httpx_cli()  # before any plugin imports httpx

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
