"""Events to the main backend under load, across processes: `payments serve --workers 4` on a fresh
PostgreSQL database delivering to a real local receiver that verifies every signature with the
reference Standard Webhooks library (`tests/events_receiver.py`).

1. Idle service: the event of a consumption of receives reaches the receiver within a second
   (LISTEN/NOTIFY: the fallback poll is 5 s), a bounded wait, twice.
2. 1,000 events of 50 users, written at once, some deliveries refused at random (503) and
   retried: every event is accepted, and for every user in the order written (no event accepted
   before an earlier one of its user was), whichever of the 4 workers sent it.
3. A worker killed with SIGKILL in the middle of a delivery (the receiver holds the request): the
   event is delivered by another worker once the dead one's claim runs out (the same
   `webhook-id`, maybe twice), never lost; the user's later events wait for it.
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
from datetime import datetime, timezone

import aiohttp
import psycopg
import pytest
import pytest_asyncio

from events_receiver import Receiver, event_receiver
from live import eventually, serve_process
from load_support import CONSUME, observe, post_once, worker_pids

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]

WORKERS = 4
TIMEOUT_SECONDS = 4  # PAYMENTS_EVENTS_TIMEOUT_SECONDS: a claim's lease is 3 × that


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def receiver():
    async with event_receiver() as receiver:
        yield receiver


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(postgres_database_factory, tmp_path_factory, receiver):
    database_url = postgres_database_factory("events")
    workdir = tmp_path_factory.mktemp("events-server")
    async with aiohttp.ClientSession() as http, \
            serve_process(http, workdir, workers=WORKERS, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32), PAYMENTS_EVENTS_URL=receiver.url, PAYMENTS_EVENTS_SECRET=receiver.secret,
                          PAYMENTS_EVENTS_TIMEOUT_SECONDS=str(TIMEOUT_SECONDS)) as service:
        await eventually(lambda: _async(worker_pids(service.process.pid, workdir / "server.log")),
                         lambda pids: len(pids) == WORKERS, timeout=30, what="every worker to start")
        service.database_url = database_url
        service.workdir = workdir
        yield service


async def _async(value):
    return value


def write_events(database_url: str, users: list[str], per_user: int) -> list[str]:
    """Write `per_user` events for each user straight into the outbox, interleaved (u0, u1, … u0,
    u1, …) in one transaction, as units of work would; NOTIFY as they do. Their ids in order."""
    now = datetime.now(timezone.utc)
    rows, ids = [], []
    for n in range(per_user):
        for user in users:
            event_id = f"evt_{secrets.token_hex(12)}"
            body = json.dumps({"id": event_id, "type": "membership.updated", "timestamp": now.strftime(
                "%Y-%m-%dT%H:%M:%SZ"), "data": {"user_id": user, "n": n}}, separators=(",", ":"))
            rows.append((event_id, user, "membership.updated", body, "pending", 0, now, now, now.replace(year=now.year + 1)))
            ids.append(event_id)
    with psycopg.connect(database_url) as connection:
        with connection.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO outbox_events (id, user_id, type, body, status, attempts, created_at, next_attempt_at, "
                "give_up_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)", rows)
            cursor.execute("SELECT pg_notify('payments_outbox', '')")
    return ids


def in_order(receiver: Receiver, user: str) -> list[int]:
    """The `n` of the user's events in the order first accepted."""
    seen: list[int] = []
    for event in receiver.events_of(user):
        if event["data"]["n"] not in seen:
            seen.append(event["data"]["n"])
    return seen


def statuses(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        return dict(connection.execute("SELECT status, count(*) FROM outbox_events GROUP BY status").fetchall())


# ---------------------------------------------------------------------- 1. idle: under a second
async def test_an_idle_service_delivers_a_change_within_a_second(server, receiver):
    user = f"idle-{secrets.token_hex(4)}"
    async with aiohttp.ClientSession() as http:
        for n in (1, 2):
            answer = await post_once(http, server.url(CONSUME), json_body={"user_id": user, "count": 1,
                                                                           "reference": f"like-{n}"},
                                     headers={"Authorization": f"Bearer {server.token('backend', 'service')}"})
            assert answer.status == 200, answer
            # The change committed before the answer: from here the bound is the delivery's alone.
            await eventually(lambda: _async(receiver.events_of(user)), lambda events: len(events) == n, timeout=1.0,
                             what=f"the event of consumption {n} within a second")
    assert [e["data"]["receives"]["balance"] for e in receiver.events_of(user)] == [2, 1]


# ---------------------------------------------------------------------- 2. order per user, 4 workers
async def test_1000_events_of_50_users_are_delivered_in_order_per_user_by_4_workers(server, receiver):
    users = [f"order-{n:02d}-{secrets.token_hex(3)}" for n in range(50)]
    receiver.fail_share = 0.02
    try:
        write_events(server.database_url, users, 20)
        await receiver.wait_for(lambda r: all(len(in_order(r, u)) == 20 for u in users), timeout=180,
                                what="all 1,000 events")
    finally:
        receiver.fail_share = 0.0
    for user in users:
        assert in_order(receiver, user) == list(range(20)), user
    # No event was accepted while an earlier one of its user was still undelivered.
    for user in users:
        accepted = [e["data"]["n"] for e in receiver.events_of(user)]
        assert all(later >= max(accepted[:i], default=-1) or later in accepted[:i]
                   for i, later in enumerate(accepted)), (user, accepted)
    refused = sum(1 for d in receiver.deliveries if d.answered >= 300 and d.user_id in users)
    assert receiver.refused == 0
    observe("events_order", events=1000, users=50, refused_then_retried=refused,
            deliveries=sum(1 for d in receiver.deliveries if d.user_id in users))


# ---------------------------------------------------------------------- 3. kill -9 mid-delivery
async def test_a_worker_killed_mid_delivery_loses_nothing(server, receiver):
    users = [f"kill-{n}-{secrets.token_hex(3)}" for n in range(5)]
    receiver.hang = 1
    ids = write_events(server.database_url, users, 4)
    await receiver.wait_for(lambda r: len(r.hung) == 1, timeout=10, what="a delivery held by the receiver")
    held_id, sender_port = receiver.hung[0]
    sender = _pid_with_local_port(worker_pids(server.process.pid, server.workdir / "server.log"), sender_port)
    assert sender is not None, "no worker holds the held delivery's connection"
    os.kill(sender, signal.SIGKILL)
    held_user = users[ids.index(held_id) % len(users)]

    await receiver.wait_for(lambda r: all(len(in_order(r, u)) == 4 for u in users), timeout=60,
                            what="every event, the held one sent again by another worker")
    receiver.release.set()
    assert held_id in {d.webhook_id for d in receiver.accepted}
    assert in_order(receiver, held_user) == [0, 1, 2, 3]  # its later events waited for it
    assert all(in_order(receiver, u) == [0, 1, 2, 3] for u in users)
    await eventually(lambda: _async(statuses(server.database_url)), lambda s: set(s) == {"delivered"}, timeout=10,
                     what="every event to read delivered")
    observe("events_kill", killed=sender, held=held_id,
            deliveries_of_held=sum(1 for d in receiver.deliveries if d.webhook_id == held_id))


def _pid_with_local_port(pids: set[int], port: int) -> int | None:
    """Which of `pids` holds the TCP socket whose local port is `port` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    return pid
        except OSError:
            continue
    return None
