"""The rate limits' Redis storage (docs/risk.md): `limits`' moving window, kept in Redis by
`limits`' own Lua scripts (the keys, the scripts and their arguments are those of `limits`' Redis
storage), sent over the small RESP client of this module instead of redis-py, which costs a worker
~7 MB for the two commands used here (docs/benchmarks.md, "Memory per worker with every plugin
loaded").

    storage = RedisMovingWindow("redis://:password@127.0.0.1:6379/0", max_connections=50, timeout=0.25)

URLs: `redis://[[user]:password@]host[:port][/db]`, `rediss://…` (TLS, the certificate verified)
and `redis+unix:///path/to.sock?db=0&password=…`. At most `max_connections` per process; a
command waits up to `timeout` for a free connection, up to `timeout` to connect (AUTH and SELECT
included) and up to `timeout` for its answer, and is never retried: a failure fails the hit, and
the limiter fails open (`entrypoints/http/rate_limits.py`). A connection that failed or timed out
is closed, never reused.
"""
from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from urllib.parse import parse_qs, unquote, urlsplit

from limits.aio.storage import MovingWindowSupport, Storage
from limits.util import get_package_data

KEY_PREFIX = "LIMITS"  # `limits`' own: the keys stay those of its Redis storage
ACQUIRE = get_package_data("resources/redis/lua_scripts/acquire_moving_window.lua")
WINDOW = get_package_data("resources/redis/lua_scripts/moving_window.lua")


class RedisError(Exception):
    """Redis answered with an error, or said something this client does not understand."""


class _Script:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sha = hashlib.sha1(body).hexdigest().encode()  # Redis names scripts by SHA-1


def _encode(args: tuple[object, ...]) -> bytes:
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, float):
            data = repr(arg).encode()  # as redis-py sends floats: every digit of the timestamp
        else:
            data = str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


async def _reply(reader: asyncio.StreamReader) -> object:
    """One RESP2 reply; an error reply is returned as a `RedisError` (raised by the caller, once the
    whole reply is read, so the connection stays in step)."""
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [await _reply(reader) for _ in range(size)]
    raise RedisError(f"unexpected reply from Redis: {line[:40]!r}")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def call(self, *args: object) -> object:
        self.writer.write(_encode(args))
        reply = await _reply(self.reader)
        if isinstance(reply, RedisError):
            raise reply
        return reply

    def close(self) -> None:
        self.writer.close()


class _Endpoint:
    """Where and how to connect, from the URL."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        if parts.scheme not in ("redis", "rediss", "redis+unix"):
            raise ValueError(f"not a Redis URL: {parts.scheme}://…")
        self.unix_path = unquote(parts.path) if parts.scheme == "redis+unix" else None
        self.host = parts.hostname or "localhost"
        self.port = parts.port or 6379
        self.tls = ssl.create_default_context() if parts.scheme == "rediss" else None
        self.username = unquote(parts.username) if parts.username else None
        password = parts.password if parts.password is not None else query.get("password")
        self.password = unquote(password) if password else None
        path_db = parts.path.strip("/") if parts.scheme != "redis+unix" else ""
        self.db = int(query.get("db") or path_db or 0)

    async def connect(self) -> _Connection:
        if self.unix_path is not None:
            reader, writer = await asyncio.open_unix_connection(self.unix_path)
        else:
            reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
        connection = _Connection(reader, writer)
        try:
            if self.password is not None:
                await connection.call(*(("AUTH", self.username) if self.username else ("AUTH",)), self.password)
            if self.db:
                await connection.call("SELECT", self.db)
        except BaseException:
            connection.close()
            raise
        return connection


class _Pool:
    def __init__(self, endpoint: _Endpoint, max_connections: int, timeout: float) -> None:
        self._endpoint = endpoint
        self._timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    async def call(self, *args: object) -> object:
        await asyncio.wait_for(self._slots.acquire(), self._timeout)
        try:
            connection = self._idle.pop() if self._idle else await asyncio.wait_for(self._endpoint.connect(),
                                                                                    self._timeout)
            try:
                reply = await asyncio.wait_for(connection.call(*args), self._timeout)
            except RedisError:
                self._idle.append(connection)  # an error reply, read whole: the connection is in step
                raise
            except BaseException:
                connection.close()
                raise
            self._idle.append(connection)
            return reply
        finally:
            self._slots.release()

    async def run(self, script: _Script, keys: list[str], args: list[object]) -> object:
        try:
            return await self.call("EVALSHA", script.sha, len(keys), *keys, *args)
        except RedisError as error:
            if not str(error).startswith("NOSCRIPT"):
                raise
        return await self.call("EVAL", script.body, len(keys), *keys, *args)  # Redis keeps it from now on

    def close(self) -> None:
        while self._idle:
            self._idle.pop().close()


class RedisMovingWindow(Storage, MovingWindowSupport):
    """`limits`' moving window on Redis, as its own async Redis storage keeps it."""

    STORAGE_SCHEME = None  # made here, never from a `limits` storage URI

    def __init__(self, url: str, *, max_connections: int, timeout: float) -> None:
        super().__init__(url, wrap_exceptions=True)
        self._pool = _Pool(_Endpoint(url), max_connections, timeout)
        self._acquire, self._window = _Script(ACQUIRE), _Script(WINDOW)

    @property
    def base_exceptions(self) -> tuple[type[Exception], ...]:
        return (RedisError, OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError)

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        acquired = await self._pool.run(self._acquire, [f"{KEY_PREFIX}:{key}"], [time.time(), limit, expiry, amount])
        return bool(acquired)

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        timestamp = time.time()
        window = await self._pool.run(self._window, [f"{KEY_PREFIX}:{key}"], [timestamp - expiry, limit])
        if window:
            return float(window[0]), int(window[1])
        return timestamp, 0

    # The rest of `limits`' storage interface, unused by the moving window.
    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        raise NotImplementedError("the rate limits count in a moving window only")

    async def get(self, key: str) -> int:
        raise NotImplementedError("the rate limits count in a moving window only")

    async def get_expiry(self, key: str) -> float:
        raise NotImplementedError("the rate limits count in a moving window only")

    async def check(self) -> bool:
        try:
            return await self._pool.call("PING") == b"PONG"
        except Exception:  # noqa: BLE001  # `limits`' contract: healthy or not, never raises
            return False

    async def reset(self) -> int | None:
        raise NotImplementedError("the rate limits' keys expire by themselves")

    async def clear(self, key: str) -> None:
        await self._pool.call("DEL", f"{KEY_PREFIX}:{key}")

    def close(self) -> None:
        self._pool.close()
