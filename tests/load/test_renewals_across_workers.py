"""Renewals across processes and crashes (docs/renewals.md), on fresh PostgreSQL databases with the
mock provider's state in a file every process shares:

1. `payments serve --workers 4`: 200 memberships on Pro with a saved card and auto-renewal, their
   period ends passed at once by the test clock, which wakes the renewal job of every worker:
   exactly 200 renewal transactions, each paid by exactly one off-session charge at the mock.
2. A server killed with SIGKILL while a renewal's charge is in flight (the mock's `timeout` fault:
   the charge is made, its answer hangs), then started again on the same database: still one
   renewal transaction, charged once at the mock, and the membership renewed.
"""
from __future__ import annotations

import asyncio
import secrets
import signal
import sqlite3
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from clock_support import CLOCK, advance_clock
from live import eventually, pay_through_page, serve_process
from load_support import raise_open_files_limit, sql, worker_pids

pytestmark = [pytest.mark.postgres]

PLAN = "/api/v1/payments/plan"
MEMBERSHIP = "/api/v1/payments/membership"
SUBSCRIPTION = "/api/v1/payments/subscription"
SAVED = "/api/v1/payments/saved-methods"
TRANSACTIONS = "/api/v1/payments/transactions"
USERS = 200
WORKERS = 4


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def renewing_user(service, http: aiohttp.ClientSession, browser: aiohttp.ClientSession, user: str) -> dict:
    """`user` on Pro, paid by a mock card kept for off-session charges, auto-renewal on; its membership."""
    upgrade = await service.post(PLAN, {"new_plan": "pro", "payment_method": "credit_card", "save_method": True},
                                 user=user, expect=201)
    await pay_through_page(browser, upgrade["session"]["payment_url"], card="ok")
    await eventually(lambda: service.get(SAVED, user=user), lambda found: len(found["items"]) == 1, timeout=30,
                     what=f"{user}'s card saved")
    membership = await service.post(SUBSCRIPTION, {"auto_renew": True}, user=user)
    assert membership["plan"] == "pro" and membership["renewal_method_id"] is not None, membership
    return membership


def mock_charges(workdir: Path) -> list[tuple[str, str]]:
    """(order id, state) of every off-session charge the mock's remote received."""
    with sqlite3.connect(workdir / "mock-remote.sqlite3") as connection:
        return connection.execute(
            "SELECT order_id, state FROM mock_orders WHERE session_id LIKE 'offsession:%'").fetchall()


def renewals_in(database_url: str) -> list[tuple]:
    """Per renewal: user, status, and the order ids of its off-session attempts."""
    return sql(database_url, """
        SELECT t.user_id, t.status, array_agg(s.order_id ORDER BY s.created_at) FILTER (WHERE s.saved_method_id IS NOT NULL)
        FROM membership_transactions t LEFT JOIN payment_sessions s ON s.transaction_id = t.id
        WHERE t.type = 'plan_renewal' GROUP BY t.id, t.user_id, t.status""")


async def test_200_memberships_renewing_at_once_across_4_workers_renew_once_each(postgres_database_factory,
                                                                                 tmp_path):
    raise_open_files_limit()
    database_url = postgres_database_factory("renewals")
    users = [f"renews-{n:03d}-{secrets.token_hex(3)}" for n in range(USERS)]
    async with aiohttp.ClientSession() as http, \
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=40)) as browser, \
            serve_process(http, tmp_path, workers=WORKERS, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32)) as service:
        await eventually(lambda: asyncio.sleep(0, worker_pids(service.process.pid, tmp_path / "server.log")),
                         lambda pids: len(pids) == WORKERS, timeout=30, what="every worker to start")
        gate = asyncio.Semaphore(10)

        async def one(user: str) -> dict:
            async with gate:
                return await renewing_user(service, http, browser, user)
        memberships = await asyncio.gather(*(one(user) for user in users))
        last_end = max(at(m["current_period_end"]) for m in memberships)
        now = at((await service.get(CLOCK))["now"])

        await advance_clock(service, int((last_end - now).total_seconds()) + 60)  # every worker's job wakes

        renewed = await eventually(lambda: asyncio.sleep(0, renewals_in(database_url)),
                                   lambda rows: len(rows) == USERS and all(r[1] == "succeeded" for r in rows),
                                   timeout=60, what="200 renewals paid")
        charges = mock_charges(tmp_path)
        assert sorted(r[0] for r in renewed) == sorted(users)  # one renewal per user
        assert all(len(r[2]) == 1 for r in renewed), [r for r in renewed if len(r[2]) != 1]  # one attempt each
        assert len(charges) == USERS and {state for _, state in charges} == {"succeeded"}
        assert sorted(r[2][0] for r in renewed) == sorted(order for order, _ in charges)
        sample = await service.get(MEMBERSHIP, user=users[0])
        assert (sample["status"], sample["current_period_start"]) == ("active", memberships[0]["current_period_end"])


async def test_a_server_killed_mid_charge_and_restarted_renews_once(postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("renewal-crash")
    secret = secrets.token_urlsafe(32)
    user = f"crash-{secrets.token_hex(4)}"
    common = dict(PAYMENTS_DATABASE_URL=database_url, PAYMENTS_JWT_SECRET=secret)
    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as browser:
        async with serve_process(http, tmp_path, "first", PAYMENTS_MOCK_FAULTS="charge_saved_method=timeout:1",
                                 PAYMENTS_MOCK_TIMEOUT_SECONDS="60", **common) as first:
            membership = await renewing_user(first, http, browser, user)
            end = at(membership["current_period_end"])
            now = at((await first.get(CLOCK))["now"])
            await advance_clock(first, int((end - now).total_seconds()) + 60)

            def in_flight() -> bool:  # the charge reached the mock; its answer hangs in `first`
                rows = renewals_in(database_url)
                return len(rows) == 1 and rows[0][1] == "pending" and len(mock_charges(tmp_path)) == 1
            await eventually(lambda: asyncio.sleep(0, in_flight()), bool, timeout=30, what="the charge in flight")
            first.process.send_signal(signal.SIGKILL)
            first.process.wait(timeout=10)

        async with serve_process(http, tmp_path, "second", **common) as second:
            await advance_clock(second, 11 * 60)  # past the reconciler's first look and the job's lease
            rows = await eventually(lambda: asyncio.sleep(0, renewals_in(database_url)),
                                    lambda found: len(found) == 1 and found[0][1] == "succeeded", timeout=30,
                                    what="the renewal settled after the restart")
            await advance_clock(second, 24 * 3600)  # a day on: nothing more is charged
            after = await eventually(lambda: second.get(MEMBERSHIP, user=user),
                                     lambda m: m["current_period_start"] == membership["current_period_end"],
                                     what="the new period")
            assert renewals_in(database_url) == rows and len(rows[0][2]) == 1
            assert mock_charges(tmp_path) == [(rows[0][2][0], "succeeded")]
            assert (after["status"], after["receives"]["allowance_remaining"]) == ("active", 20)
