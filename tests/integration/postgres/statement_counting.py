"""Counting what the hot path sends to PostgreSQL (docs/benchmarks.md, issue 22): the service's own
composition root on a test database, with a fixed clock, and every statement sent on an asyncpg
connection recorded. Shared by the statement-count tests of the purchase and the confirmation."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

import asyncpg
import pytest
from dependency_injector import providers

from adapters.clock import FixedClock
from entrypoints.config import load_config
from entrypoints.container import build_container


@asynccontextmanager
async def service_container(database_url: str, tmp_path: Path, now: datetime,
                            **settings: str) -> AsyncIterator[object]:
    """The container `payments serve` builds, on `database_url`, its clock fixed at `now`."""
    config = load_config({
        "PAYMENTS_DATABASE_URL": database_url, "PAYMENTS_PUBLIC_URL": "http://payments.test",
        "PAYMENTS_MOCK_WEBHOOK_SECRET": "statements-secret",
        "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock-remote.sqlite3"), **settings})
    built = build_container(config)
    built.adapters.clock.override(providers.Object(FixedClock(now)))
    await built.init_resources()
    try:
        yield built
    finally:
        await built.shutdown_resources()


async def made(provider):
    """What a provider makes; those that depend on an async resource hand out an awaitable."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


def counted(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The SQL of every statement sent on an asyncpg connection from now on, whitespace collapsed
    (BEGIN and COMMIT included: asyncpg's transactions send them with `execute`)."""
    found: list[str] = []
    for name in ("execute", "fetch", "fetchrow", "fetchval"):
        def counting(original):
            async def call(self, query, *args, **kwargs):
                found.append(" ".join(query.split()))
                return await original(self, query, *args, **kwargs)
            return call
        monkeypatch.setattr(asyncpg.Connection, name, counting(getattr(asyncpg.Connection, name)))
    return found
