"""The test clock across processes: `payments serve --workers 2` on a fresh PostgreSQL database.
The clock is moved through one worker; the other, which shares nothing with it but the database,
reads the new business time within a second (its cached offset is refreshed in the background),
and so do its use cases: a pending session past its end reads expired there. The expiry sweep
(every 15 s otherwise) runs at once when a worker learns of the move, and stores the expiry. Each
client below keeps one connection, and /proc tells which worker holds it."""
from __future__ import annotations

import os
import re
import secrets
import time
from datetime import datetime, timedelta

import aiohttp
import pytest

from live import eventually, serve_process

pytestmark = pytest.mark.postgres

CLOCK = "/api/v1/internal/clock"
RECEIVES = "/api/v1/payments/receives"
WITHIN = 1.0  # the promise: every process sees a move within a second
SLACK = 2.0  # what a loaded test machine may add to it (scheduling, the query itself)


def workers_of(master: int, log: str) -> set[int]:
    """The worker pids gunicorn booted that are children of `master` and alive."""
    booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log)}
    alive = set()
    for pid in booted:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == master and fields[0] != "Z":
            alive.add(pid)
    return alive


def connections_held(pid: int, port: int) -> int:
    """Established TCP connections on local `port` whose socket `pid` holds (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                inodes.update(fields[9] for fields in map(str.split, lines)
                              if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01")
        except OSError:
            continue
    held = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        held += target.startswith("socket:[") and target[8:-1] in inodes
    return held


class Client:
    """One kept-alive connection to the service, and so to one worker."""

    def __init__(self, service, base_url: str) -> None:
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1),
                                          timeout=aiohttp.ClientTimeout(total=30))
        self.service = service
        self.base_url = base_url

    async def call(self, method: str, path: str, body=None, *, user: str = "u1", role: str | None = None,
                   expect: int = 200) -> dict:
        headers = {"Authorization": f"Bearer {self.service.token(user, role)}"}
        async with self.http.request(method, self.base_url + path, json=body, headers=headers) as response:
            answer = await response.json()
            assert response.status == expect, (response.status, answer)
            return answer

    async def now(self) -> datetime:
        return datetime.fromisoformat((await self.call("GET", CLOCK))["now"].replace("Z", "+00:00"))


async def clients_on_each_worker(service, port: int, workers: set[int]) -> dict[int, Client]:
    """A client pinned to each worker: new connections until every worker holds one of them."""
    pinned: dict[int, Client] = {}
    for _ in range(40):
        before = {pid: connections_held(pid, port) for pid in workers}
        client = Client(service, service.base_url)
        await client.call("GET", CLOCK)
        gained = [pid for pid in workers if connections_held(pid, port) > before[pid]]
        if len(gained) == 1 and gained[0] not in pinned:
            pinned[gained[0]] = client
        else:
            await client.http.close()
        if len(pinned) == len(workers):
            return pinned
    raise AssertionError(f"could not reach every worker: {sorted(pinned)} of {sorted(workers)}")


async def test_a_move_through_one_worker_reaches_the_other_within_a_second(postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("clock")
    async with aiohttp.ClientSession() as http, \
            serve_process(http, tmp_path, workers=2, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32)) as service:
        port = int(service.base_url.rsplit(":", 1)[1])
        log = tmp_path / "server.log"
        workers = await eventually(lambda: _async(workers_of(service.process.pid, log.read_text())),
                                   lambda pids: len(pids) == 2, timeout=30, what="both workers to boot")
        first, second = (await clients_on_each_worker(service, port, workers)).values()
        try:
            bought = await second.call("POST", RECEIVES, {"amount": 10, "payment_method": "mock"}, expect=201)
            session_path = f"/api/v1/payments/sessions/{bought['session']['id']}"
            expires_at = datetime.fromisoformat(bought["session"]["expires_at"].replace("Z", "+00:00"))
            before = await second.now()
            step = int((expires_at - before).total_seconds()) + 60

            answer = await first.call("POST", CLOCK, {"advance_seconds": step}, user="backend", role="service")
            moved = datetime.fromisoformat(answer["now"].replace("Z", "+00:00"))
            started = time.monotonic()
            assert moved >= before + timedelta(seconds=step)
            assert (await first.call("GET", session_path))["status"] == "expired"  # the mover: at once

            seen = await eventually(second.now, lambda now: now >= moved, timeout=WITHIN + SLACK,
                                    what="the other worker to read the moved clock")
            took = time.monotonic() - started
            assert seen < moved + timedelta(seconds=WITHIN + SLACK + 1)
            assert took <= WITHIN + SLACK, took
            assert (await second.call("GET", session_path))["status"] == "expired"
            transaction = await second.call("GET", f"/api/v1/payments/transactions/{bought['transaction']['id']}")
            assert transaction["transaction"]["status"] == "expired"
            await eventually(lambda: _async(stored_status(database_url, bought["session"]["id"])),
                             lambda status: status == "expired", timeout=5, what="a sweep woken by the move")
        finally:
            for client in (first, second):
                await client.http.close()


def stored_status(database_url: str, session_id: str) -> str:
    import psycopg

    with psycopg.connect(database_url) as connection:
        return connection.execute("SELECT status FROM payment_sessions WHERE id = %s", (session_id,)).fetchone()[0]


async def _async(value):
    return value
