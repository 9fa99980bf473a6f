"""Benchmark of the events to the main backend: commit → delivery latency on PostgreSQL.

Starts `payments serve --workers N` (default 2) on a fresh PostgreSQL database, delivering to a
local receiver in this process that verifies every signature (`tests/events_receiver.py`), then:

- idle: `--idle` events (default 200) one at a time, each written and committed as a unit of work
  writes one (an INSERT into the outbox and the NOTIFY, one transaction), the next once the
  previous arrived: the latency an idle service gives;
- burst: `--burst` events (default 1,000) of 50 users committed at once: the per-event latency
  while the dispatchers drain the backlog in order per user, and the throughput.

Beside it, in the same run, a plain implementation (`--plain-sender`, a process of its own): one
loop that every second SELECTs the undelivered rows of a copy of the outbox table
(`plain_outbox`), and for each signs it (Standard Webhooks, as the service does), POSTs it with
urllib and marks it delivered, one at a time; the same idle (`--plain-idle`, default 20: each waits
for the next poll) and burst measurements.

Latency = the receiver's arrival time − the moment the committing transaction returned, both
read in this process (`time.perf_counter`). Prints p50 / p90 / p99 / max in milliseconds.

    .venv/bin/python tests/bench/events_latency.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--workers 2] [--idle 200] [--burst 1000] [--plain-idle 20]

Not a test: pytest does not collect it.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
import psycopg  # noqa: E402

from events_receiver import event_receiver  # noqa: E402
from live import serve_process  # noqa: E402

INSERT = ("INSERT INTO outbox_events (id, user_id, type, body, status, attempts, created_at, next_attempt_at, "
          "give_up_at) VALUES (%s, %s, 'membership.updated', %s, 'pending', 0, %s, %s, %s)")


def row(user: str, n: int) -> tuple:
    now = datetime.now(timezone.utc)
    event_id = f"evt_{secrets.token_hex(12)}"
    body = json.dumps({"id": event_id, "type": "membership.updated", "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "data": {"user_id": user, "n": n}}, separators=(",", ":"))
    return (event_id, user, body, now, now, now.replace(year=now.year + 1))


def commit(connection: psycopg.Connection, rows: list[tuple], table: str = "outbox_events") -> float:
    """Write `rows` and NOTIFY in one transaction, as a unit of work does; when it returned."""
    with connection.transaction():
        with connection.cursor() as cursor:
            cursor.executemany(INSERT.replace("outbox_events", table), rows)
            cursor.execute("SELECT pg_notify('payments_outbox', '')")
    return time.perf_counter()


def plain_sender(database_url: str, events_url: str, secret: str) -> None:
    """The plain implementation: poll `plain_outbox` every second, POST each undelivered row, one
    at a time, signed as the service signs; mark it delivered. Runs until killed."""
    import urllib.request

    from standardwebhooks import Webhook

    webhook = Webhook(secret)
    with psycopg.connect(database_url, autocommit=True) as connection:
        while True:
            rows = connection.execute("SELECT id, body FROM plain_outbox WHERE status = 'pending' "
                                      "ORDER BY created_at, id").fetchall()
            for event_id, body in rows:
                now = datetime.now(timezone.utc)
                request = urllib.request.Request(events_url, data=body.encode(), method="POST", headers={
                    "content-type": "application/json", "webhook-id": event_id,
                    "webhook-timestamp": str(int(now.timestamp())),
                    "webhook-signature": webhook.sign(event_id, now, body)})
                with urllib.request.urlopen(request, timeout=10) as answer:
                    answer.read()
                connection.execute("UPDATE plain_outbox SET status = 'delivered' WHERE id = %s", (event_id,))
            time.sleep(1)


async def measure(connection: psycopg.Connection, arrivals: dict[str, float], label: str, idle_count: int,
                  burst_count: int, table: str = "outbox_events") -> None:
    """The idle and burst runs of one sender: print their latencies and the burst's events/s."""
    idle = []
    for n in range(idle_count):
        event = row("idle-user", n)
        committed = await asyncio.to_thread(commit, connection, [event], table)
        while event[0] not in arrivals:
            await asyncio.sleep(0.0005)
        idle.append(arrivals[event[0]] - committed)
    print(summary(f"{label}: idle", idle))

    users = [f"burst-{n:02d}" for n in range(50)]
    rows = [row(users[i % 50], i // 50) for i in range(burst_count)]
    committed = await asyncio.to_thread(commit, connection, rows, table)
    while not all(r[0] in arrivals for r in rows):
        await asyncio.sleep(0.005)
    burst = [arrivals[r[0]] - committed for r in rows]
    print(summary(f"{label}: burst of {burst_count} (50 users)", burst))
    print(f"{label}: burst throughput {burst_count / max(burst):.0f} events/s")


def summary(label: str, latencies: list[float]) -> str:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return (f"{label}: n={len(ms)} p50={q[49]:.1f} ms p90={q[89]:.1f} ms p99={q[98]:.1f} ms "
            f"max={ms[-1]:.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default=os.environ.get("PAYMENTS_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument("--plain-idle", type=int, default=20)
    parser.add_argument("--plain-sender", nargs=3, metavar=("DATABASE_URL", "EVENTS_URL", "SECRET"),
                        help="(internal) run the plain implementation's loop")
    args = parser.parse_args()
    if args.plain_sender:
        plain_sender(*args.plain_sender)
        return

    name = f"payments_bench_events_{secrets.token_hex(3)}"
    with psycopg.connect(args.url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = urlunsplit(urlsplit(args.url)._replace(path=f"/{name}"))
    arrivals: dict[str, float] = {}
    try:
        async with event_receiver() as receiver, aiohttp.ClientSession() as http:
            receiver.on_arrival = lambda webhook_id: arrivals.setdefault(webhook_id, time.perf_counter())
            with tempfile.TemporaryDirectory() as workdir:
                async with serve_process(http, Path(workdir), workers=args.workers, PAYMENTS_DATABASE_URL=url,
                                         PAYMENTS_EVENTS_URL=receiver.url, PAYMENTS_EVENTS_SECRET=receiver.secret):
                    await asyncio.sleep(2)  # every worker listening (the readiness probe answers from one)
                    with psycopg.connect(url) as connection:
                        await measure(connection, arrivals, f"service, {args.workers} workers", args.idle,
                                      args.burst)
                        connection.execute("CREATE TABLE plain_outbox (LIKE outbox_events INCLUDING ALL)")
                        connection.commit()
                        plain = subprocess.Popen([sys.executable, __file__, "--plain-sender", url, receiver.url,
                                                  receiver.secret])
                        try:
                            await measure(connection, arrivals, "plain loop (1 s poll, one POST at a time)",
                                          args.plain_idle, args.burst, "plain_outbox")
                        finally:
                            plain.kill()
                            plain.wait()
                        assert receiver.refused == 0
    finally:
        with psycopg.connect(args.url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    asyncio.run(main())
