"""Shared rate limits across processes (docs/risk.md), on real `payments serve` subprocesses:

1. `--workers 4` with Redis (the machine's, 127.0.0.1:6379; `.ci/run` starts it): 120 POSTs of one
   user at once, spread over the four workers, get 30 answers that are not 429 (within one), and
   the rest 429 `rate_limited` with Retry-After.
2. Fail open: a server on a Redis of this test's own (`redis-server --port <free port>`) limits
   while it runs; once that Redis is killed the server keeps serving (no 429, no 5xx, answers
   still fast), logs the outage once (not once per request) and counts the failed hits in
   `payments_rate_limit_storage_errors_total`.
"""
from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from live import eventually, free_port, serve_process
from load_support import post_once, worker_pids

pytestmark = pytest.mark.asyncio

CANCEL = "/api/v1/payments/cancel"  # a POST that costs little: the transaction is not found (404)
REDIS_URL = "redis://127.0.0.1:6379/0"
REDIS_SERVER = shutil.which("redis-server")
CI = os.environ.get("CI", "").lower() == "true"


def redis_answers(port: int = 6379) -> bool:
    try:
        return subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                              timeout=5).stdout.strip() == "PONG"
    except (OSError, subprocess.TimeoutExpired):
        return False


needs_redis = pytest.mark.skipif(not CI and (REDIS_SERVER is None or not redis_answers()),
                                 reason="Redis is not running on 127.0.0.1:6379 (.ci/run starts it)")


async def cancel_as(service, user: str) -> tuple[int, str | None, float]:
    started = time.perf_counter()
    answer = await post_once(service.http, service.url(CANCEL), json_body={"transaction_id": "txn_none"},
                             headers={"Authorization": f"Bearer {service.token(user)}"})
    return answer.status, answer.code, time.perf_counter() - started


@needs_redis
async def test_four_workers_share_one_limit_through_redis(tmp_path: Path):
    user = f"burst-{secrets.token_hex(4)}"  # keys are per user: a fresh one per run
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200, force_close=True)) as http:
        async with serve_process(http, tmp_path, workers=4, PAYMENTS_REDIS_URL=REDIS_URL,
                                 PAYMENTS_RATE_LIMIT_PER_MINUTE="30") as service:
            await eventually(lambda: asyncio.sleep(0, worker_pids(service.process.pid, tmp_path / "server.log")),
                             lambda pids: len(pids) == 4, what="four workers")
            answers = await asyncio.gather(*(cancel_as(service, user) for _ in range(120)))
    statuses = Counter(status for status, _, _ in answers)
    allowed = sum(count for status, count in statuses.items() if status != 429)
    assert abs(allowed - 30) <= 1, statuses
    assert statuses[429] == 120 - allowed
    assert all(code == "rate_limited" for status, code, _ in answers if status == 429)


@pytest.mark.skipif(REDIS_SERVER is None and not CI, reason="redis-server is not installed (.ci/run installs it)")
async def test_the_service_keeps_serving_when_redis_goes_away(tmp_path: Path):
    assert REDIS_SERVER is not None, "CI=true: redis-server must be installed (.ci/run installs it)"
    port = free_port()
    redis = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        await eventually(lambda: asyncio.to_thread(redis_answers, port), bool, what="the test's Redis")
        async with aiohttp.ClientSession() as http:
            async with serve_process(http, tmp_path, PAYMENTS_REDIS_URL=f"redis://127.0.0.1:{port}/0",
                                     PAYMENTS_RATE_LIMIT_PER_MINUTE="3") as service:
                limited = [await cancel_as(service, "steady") for _ in range(4)]
                assert [status for status, _, _ in limited] == [404, 404, 404, 429]  # Redis counts

                redis.kill()
                redis.wait(timeout=10)
                after = [await cancel_as(service, user) for user in ("steady", "fresh") for _ in range(10)]
                assert {status for status, _, _ in after} == {404}, after  # served, never limited nor 5xx
                assert max(seconds for _, _, seconds in after) < 2.0

                async with http.get(service.url("/metrics")) as response:
                    metrics = await response.text()
                errors = [line for line in metrics.splitlines()
                          if line.startswith("payments_rate_limit_storage_errors_total ")]
                assert errors and float(errors[0].split()[1]) >= 1, metrics[-3000:]
                log = (tmp_path / "server.log").read_text()
                assert log.count("rate-limit storage unavailable") == 1, log[-3000:]
    finally:
        if redis.poll() is None:
            redis.kill()
            redis.wait(timeout=10)
