"""The rate limits' Redis window (`entrypoints/http/redis_window.py`), on a redis-server of this
test's own (a password, database 3, no script loaded yet): it counts as `limits`' own Redis
storage does (the same keys and scripts: each sees the other's hits), refuses past the limit,
bounds its connections, and fails fast when Redis is gone."""
from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator

import pytest
from limits import RateLimitItemPerMinute
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from live import free_port

from entrypoints.http.redis_window import RedisMovingWindow, _Endpoint

REDIS_SERVER = shutil.which("redis-server")
CI = os.environ.get("CI", "").lower() == "true"
PASSWORD = "s3cret-window"
pytestmark = pytest.mark.skipif(REDIS_SERVER is None and not CI, reason="redis-server is not installed")


@pytest.fixture
def redis_url() -> Iterator[str]:
    assert REDIS_SERVER is not None, "CI=true: redis-server must be installed (.ci/run installs it)"
    port = free_port()
    server = subprocess.Popen([REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                               "--appendonly", "no", "--requirepass", PASSWORD],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:  # until it listens (bounded)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the test's redis-server did not start"
                time.sleep(0.05)
        yield f"redis://:{PASSWORD}@127.0.0.1:{port}/3"
    finally:
        server.kill()
        server.wait(timeout=10)


def redispy_storage(url: str):
    """`limits`' own async Redis storage over redis-py, as the service used before."""
    from limits.storage import storage_from_string

    return storage_from_string("async+" + url, implementation="redispy")


async def test_it_counts_in_limits_own_keys_and_refuses_past_the_limit(redis_url):
    window = RedisMovingWindow(redis_url, max_connections=4, timeout=0.5)
    limiter = MovingWindowRateLimiter(window)
    item = RateLimitItemPerMinute(3, namespace="payments-user-posts")
    assert [await limiter.hit(item, "alice") for _ in range(2)] == [True, True]  # a fresh server: NOSCRIPT, then EVAL

    their_storage = redispy_storage(redis_url)
    theirs = MovingWindowRateLimiter(their_storage)
    assert (await theirs.get_window_stats(item, "alice")).remaining == 1  # they see our two hits
    assert await theirs.hit(item, "alice")
    assert not await limiter.hit(item, "alice")  # we see theirs
    reset_at, remaining = await limiter.get_window_stats(item, "alice")
    assert remaining == 0 and time.time() + 55 < reset_at <= time.time() + 60
    assert await limiter.hit(item, "bob")  # another key
    assert await window.check()
    window.close()
    await their_storage.bridge.get_connection().aclose()


async def test_a_burst_shares_a_bounded_pool(redis_url):
    window = RedisMovingWindow(redis_url, max_connections=3, timeout=1.0)
    limiter = MovingWindowRateLimiter(window)
    item = RateLimitItemPerMinute(40)
    hits = await asyncio.gather(*(limiter.hit(item, "burst") for _ in range(60)))
    assert hits.count(True) == 40
    assert len(window._pool._idle) <= 3
    window.close()


async def test_without_redis_a_hit_fails_at_once_with_a_storage_error():
    window = RedisMovingWindow(f"redis://127.0.0.1:{free_port()}/0", max_connections=2, timeout=0.25)
    started = time.monotonic()
    with pytest.raises(StorageError):
        await window.acquire_entry("payments-user-posts/alice", 3, 60)
    assert time.monotonic() - started < 1.0
    assert not await window.check()


async def test_a_wrong_password_is_a_storage_error(redis_url):
    window = RedisMovingWindow(redis_url.replace(PASSWORD, "wrong"), max_connections=2, timeout=0.5)
    with pytest.raises(StorageError, match="WRONGPASS|invalid"):
        await window.acquire_entry("k", 3, 60)


@pytest.mark.parametrize("url, where", [
    ("redis://127.0.0.1:6379/0", ("127.0.0.1", 6379, None, None, None, 0, False)),
    ("redis://cache", ("cache", 6379, None, None, None, 0, False)),
    ("rediss://user:p%40ss@cache:6380/2", ("cache", 6380, None, "user", "p@ss", 2, True)),
    ("redis+unix:///run/redis.sock?db=5&password=pw", ("localhost", 6379, "/run/redis.sock", None, "pw", 5, False)),
])
def test_urls(url, where):
    endpoint = _Endpoint(url)
    assert (endpoint.host, endpoint.port, endpoint.unix_path, endpoint.username, endpoint.password, endpoint.db,
            endpoint.tls is not None) == where


async def test_a_redis_that_never_answers_costs_one_timeout():
    accepted: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # reads the command, never answers


    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    window = RedisMovingWindow(f"redis://127.0.0.1:{port}/0", max_connections=2, timeout=0.2)
    started = time.monotonic()
    with pytest.raises(StorageError):
        await window.acquire_entry("payments-user-posts/alice", 3, 60)
    assert 0.2 <= time.monotonic() - started < 1.0
    assert window._pool._idle == []  # a timed-out connection is closed, never reused
    for writer in accepted:
        writer.close()
    server.close()
    await server.wait_closed()
