"""Benchmark of the rate limiter's cost per request (docs/risk.md), beside a plain one.

Measured through the limiter the service uses: `entrypoints.http.rate_limits.RateLimiter.from_config`
(the `limits` library's moving window of one minute; with `PAYMENTS_REDIS_URL` its async Redis
storage over redis-py, each hit one Lua script) and its `check(request)` on a POST of a user's token
(a mocked aiohttp request carrying the principal, as the middleware sees it). Beside it:

- the same limiter in process (`MemoryStorage`, no `PAYMENTS_REDIS_URL`);
- a plain fixed-window limiter: redis-py asyncio, `INCR key` + `EXPIRE key 60 NX` in one pipeline
  (one round trip, two commands) against the same Redis;
- no limiter: the middleware's call with nothing behind it (an awaited no-op).

Redis is one of this script's own (`redis-server --port <free port> --save ""`, stopped at the end),
so its `INFO` counts only these checks: commands per check and Redis's own CPU per check (µs).
Round trips per check: the script calls Redis counted (each `EVALSHA` is one request; the
commands inside the script run in Redis), or one per pipeline for the plain limiter. `--users` users share the `--n` checks round-robin (default 2,000 users, 20,000
checks: 10 a user, under the default 30 a minute, so every check is allowed, the common case);
`--over` runs 2,000 more checks of one user over the limit (a 429 costs a second round trip:
`get_window_stats` for `Retry-After`).

Per check: µs of wall time (sequential, one at a time) and µs of this process's CPU
(`time.process_time`), plus the wall time per check with `--concurrency` checks in flight.

    .venv/bin/python tests/bench/rate_limiter.py [--n 20000] [--users 2000] [--concurrency 32]

Not a test: pytest does not collect it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import redis as redis_sync
import redis.asyncio as redis_asyncio
from aiohttp.test_utils import make_mocked_request

from entrypoints.config import load_config
from entrypoints.http.auth import Principal
from entrypoints.http.errors import ApiError
from entrypoints.http.keys import PRINCIPAL
from entrypoints.http.rate_limits import RateLimiter

PATH = "/api/v1/payments/receives"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def requests_for(users: list[str]) -> list:
    made = []
    for user in users:
        request = make_mocked_request("POST", PATH)
        request[PRINCIPAL] = Principal(user, None)
        made.append(request)
    return made


class PlainFixedWindow:
    """The plain limiter: INCR + EXPIRE NX in one pipeline, allowed while the count ≤ the limit."""

    def __init__(self, client: redis_asyncio.Redis, per_minute: int) -> None:
        self.client, self.per_minute = client, per_minute

    async def check(self, request) -> None:
        key = f"plain:{request[PRINCIPAL].user_id}:{int(time.time() // 60)}"
        async with self.client.pipeline(transaction=False) as pipe:
            count, _ = await pipe.incr(key).expire(key, 60, nx=True).execute()
        if count > self.per_minute:
            raise ApiError(429, "rate_limited", "Too many requests; try again later.", headers={"Retry-After": "60"})


class NoLimiter:
    async def check(self, request) -> None:
        return None


async def measure(limiter, requests: list, concurrency: int) -> dict:
    refused = 0
    for request in requests[:200]:  # warm-up: connections, scripts loaded
        try:
            await limiter.check(request)
        except ApiError:
            pass
    c0, w0 = time.process_time(), time.perf_counter()
    for request in requests:
        try:
            await limiter.check(request)
        except ApiError:
            refused += 1
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0

    queue = iter(requests)

    async def worker() -> None:
        for request in queue:
            try:
                await limiter.check(request)
            except ApiError:
                pass

    w1 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    concurrent = time.perf_counter() - w1
    n = len(requests)
    return {"wall_us": wall * 1e6 / n, "cpu_us": cpu * 1e6 / n, "concurrent_us": concurrent * 1e6 / n,
            "refused": refused}


def redis_stats(client_sync) -> tuple[dict[str, int], float]:
    """Calls per command so far (a script's own calls counted under their names too) and Redis's CPU."""
    commands = {name.removeprefix("cmdstat_"): stats["calls"]
                for name, stats in client_sync.info("commandstats").items()}
    cpu = client_sync.info("cpu")
    return commands, cpu["used_cpu_user"] + cpu["used_cpu_sys"]


def per_check(before: dict[str, int], after: dict[str, int], checks: int) -> dict[str, float]:
    calls = {name: (after.get(name, 0) - before.get(name, 0)) / checks for name in after}
    return {name: n for name, n in calls.items() if n >= 0.005 and name not in ("info", "flushall")}


def round_trips(calls: dict[str, float], pipelined: bool) -> float:
    """Requests the client sent per check: one per script call (EVALSHA: the script's own calls run
    inside Redis), one per pipeline (the plain limiter sends INCR and EXPIRE together)."""
    if pipelined:
        return 1.0 if calls else 0.0
    return sum(n for name, n in calls.items() if name in ("evalsha", "eval", "evalsha_ro", "eval_ro"))


def start_redis(workdir: str) -> tuple[subprocess.Popen, str, redis_sync.Redis]:
    """A Redis of this script's own on a free port (no persistence); its URL and a client answering."""
    server = shutil.which("redis-server")
    assert server, "redis-server is not installed"
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                                "--dir", workdir], stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    admin = redis_sync.Redis.from_url(url)
    for _ in range(200):
        try:
            admin.ping()
            return process, url, admin
        except redis_sync.ConnectionError:
            time.sleep(0.05)
    process.terminate()
    raise RuntimeError("redis-server did not answer")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--over", type=int, default=2000)
    args = parser.parse_args()
    workdir = tempfile.mkdtemp()
    process, url, admin = start_redis(workdir)
    try:
        rows = asyncio.run(bench(args, url, admin))
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, rows)


async def bench(args: argparse.Namespace, url: str, admin: redis_sync.Redis) -> list[tuple]:
    rows = []
    plain_client = redis_asyncio.Redis.from_url(url)
    limiters = {
        "service's limiter, Redis (limits moving window, redis-py)":
            (RateLimiter.from_config(load_config({"PAYMENTS_REDIS_URL": url})), False),
        "service's limiter, in process (limits MemoryStorage)": (RateLimiter.from_config(load_config({})), False),
        "plain fixed window, redis-py asyncio INCR+EXPIRE NX pipelined": (PlainFixedWindow(plain_client, 30), True),
        "no limiter": (NoLimiter(), False),
    }
    users = requests_for([f"bench-user-{i}" for i in range(args.users)])
    requests = [users[i % args.users] for i in range(args.n)]
    for label, (limiter, pipelined) in limiters.items():
        admin.flushall()
        commands0, cpu0 = redis_stats(admin)
        allowed = await measure(limiter, requests, args.concurrency)  # 200 warm-up + n sequential + n in flight
        commands1, cpu1 = redis_stats(admin)
        assert allowed["refused"] == 0, label
        over = await measure(limiter, requests_for(["one-user"]) * args.over, 1)
        commands2, _ = redis_stats(admin)
        checks = 200 + 2 * args.n
        calls = per_check(commands0, commands1, checks)
        over_calls = per_check(commands1, commands2, 200 + 2 * args.over)
        rows.append((label, allowed, over, round_trips(calls, pipelined), calls,
                     (cpu1 - cpu0) * 1e6 / checks, round_trips(over_calls, pipelined)))
    await plain_client.aclose()
    return rows


def report(args: argparse.Namespace, rows: list[tuple]) -> None:
    print(f"\nrate limiter: {args.n} checks of {args.users} users (each allowed), then {args.over} of one user "
          f"over the limit; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("| limiter | µs/check wall (sequential) | µs/check CPU (this process) | µs/check wall "
          f"({args.concurrency} in flight) | Redis round trips/check | Redis commands/check (in the script too) "
          "| Redis CPU µs/check | over the limit (429): µs/check wall, round trips |")
    print("|---|---|---|---|---|---|---|---|")
    for label, allowed, over, trips, calls, redis_cpu, over_trips in rows:
        named = ", ".join(f"{name} {n:.2g}" for name, n in sorted(calls.items())) or "–"
        print(f"| {label} | {allowed['wall_us']:.0f} | {allowed['cpu_us']:.1f} | {allowed['concurrent_us']:.0f} | "
              f"{trips:.2f} | {named} | {redis_cpu:.1f} | {over['wall_us']:.0f}, {over_trips:.2f} |")


if __name__ == "__main__":
    main()
