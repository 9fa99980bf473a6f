"""A dropped database connection, across processes: two `payments serve` processes on one fresh
PostgreSQL database, event streams held on both, and then every connection of the database is
terminated (`pg_terminate_backend`, as an operator or a failover does). Each process's session
feed reconnects, logs it and reports it (`/readyz`, `/metrics`), and pushes resume within a few
seconds: a session cancelled through one process reaches the stream held on the other at once,
not at the stream's next periodic re-read (every 5 s).

The cancellations are spaced 1.3 s apart, so that re-reads alone (whatever their phase) could not
deliver all of them within a second: only the feed can.
"""
from __future__ import annotations

import asyncio
import re
import secrets
import time

import aiohttp
import pytest

from live import eventually, next_event, serve_process, server_sent_events
from load_support import RECEIVES, observe, sql

pytestmark = pytest.mark.postgres

CANCEL = "/api/v1/payments/cancel"
PUSH_SECONDS = 1.0  # a push; a re-read comes up to 5 s late
RESUME_SECONDS = 5.0  # from the drop until the processes are ready again
SPACING_SECONDS = 1.3


def drop_connections(url: str) -> int:
    rows = sql(url, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return len(rows)


async def ready(service) -> bool:
    try:
        async with service.http.get(service.url("/readyz")) as response:
            return response.status == 200
    except aiohttp.ClientError:
        return False


async def feed_metrics(service) -> dict[str, float]:
    async with service.http.get(service.url("/metrics")) as response:
        text = await response.text()
    return {name: float(value) for name, value in
            re.findall(r"^(payments_session_feed_\w+) ([0-9.e+-]+)$", text, re.MULTILINE)}


async def cancel(service, user: str, transaction_id: str) -> None:
    for _ in range(3):  # a request that met a connection dropped under it may fail once
        async with service.http.post(service.url(CANCEL), json={"transaction_id": transaction_id},
                                     headers={"Authorization": f"Bearer {service.token(user)}"}) as response:
            if response.status < 500:
                assert response.status == 200, await response.text()
                return
        await asyncio.sleep(0.1)
    raise AssertionError(f"cancel of {transaction_id} kept failing")


async def test_pushes_resume_across_processes_within_seconds_of_a_dropped_database_connection(
        postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("drop")
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=20)  # fail fast, not after 5 min
    async with aiohttp.ClientSession(timeout=timeout) as http, \
            serve_process(http, tmp_path, "a", PAYMENTS_DATABASE_URL=database_url) as a, \
            serve_process(http, tmp_path, "b", PAYMENTS_DATABASE_URL=database_url) as b:
        # Four sessions: streams on A and B; each is cancelled through the other process.
        plan = []
        for held_on, changed_by in ((a, b), (b, a), (a, b), (b, a)):
            user = f"drop-{secrets.token_hex(4)}"
            bought = await held_on.post(RECEIVES, {"amount": 3, "payment_method": "mock"}, user=user, expect=201)
            plan.append((held_on, changed_by, user, bought))

        responses, streams = [], []
        try:
            for held_on, _, user, bought in plan:
                responses.append(await held_on.open_events(bought["session"]["id"], user=user))
                streams.append(server_sent_events(responses[-1]))
                assert (await next_event(streams[-1])).json()["status"] == "open"

            dropped = time.monotonic()
            assert drop_connections(database_url) >= 2  # at least the two LISTEN connections
            for service in (a, b):
                await eventually(lambda: ready(service), bool, timeout=RESUME_SECONDS,
                                 what="the process to be ready again")

            latencies, arrivals = [], []
            for (held_on, changed_by, user, bought), events in zip(plan, streams):
                arrival = asyncio.create_task(next_event(events, 10))
                await cancel(changed_by, user, bought["transaction"]["id"])
                committed = time.monotonic()
                changed = await arrival
                arrivals.append(time.monotonic())
                latencies.append(arrivals[-1] - committed)
                assert (changed.json()["id"], changed.json()["status"]) == (bought["session"]["id"], "cancelled")
                await asyncio.sleep(SPACING_SECONDS)
        finally:
            for response in responses:
                response.close()

        observe("connection_drop", latencies=[round(latency, 3) for latency in latencies],
                first_push_after_drop=round(arrivals[0] - dropped, 3))
        assert max(latencies) < PUSH_SECONDS, f"pushes took {latencies}: the streams only re-read, no feed woke them"
        assert arrivals[0] - dropped < RESUME_SECONDS + PUSH_SECONDS
        for service, name in ((a, "a"), (b, "b")):
            metrics = await feed_metrics(service)
            assert metrics["payments_session_feed_listening"] == 1, metrics
            assert metrics["payments_session_feed_reconnects_total"] >= 1, metrics
            log = (tmp_path / f"{name}.log").read_text()
            assert "lost its LISTEN connection" in log and "listening again" in log, log
