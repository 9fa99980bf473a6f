"""Rate limits (docs/risk.md): POSTs per user and webhook calls per client address, counted with
the `limits` library in a moving window of one minute.

- With `PAYMENTS_REDIS_URL` the counters live in Redis, shared by every process and instance
  (`limits`' async Redis storage: each hit is one atomic Lua script); without it, per process.
- Tokens with role `admin` or `service` are not limited; OPTIONS never is.
- Over a limit: 429 `rate_limited`, `details` {}, `Retry-After` in whole seconds (at least 1).
- Fail open: when Redis does not answer the request is let through; the outage is logged once
  (and its end once), `payments_rate_limit_storage_errors_total` counts every failed hit, and
  Redis is not asked again for `RETRY_STORAGE_SECONDS` (a hung Redis costs one timeout, not one
  per request).
- The client address of a webhook is the peer's, unless the peer is a trusted proxy
  (`PAYMENTS_TRUSTED_PROXIES`): then the right-most `X-Forwarded-For` entry that is not a trusted
  proxy (entries left of it could be written by the client itself).

`limits` is imported here, when the app is built; its Redis client (redis-py's asyncio client,
`implementation="redispy"`) only when Redis is configured. The client does not retry: a failed or
timed-out command fails the hit at once (redis-py's default would retry ten times with backoff, up
to seconds per request), and the limiter's own pause (`RETRY_STORAGE_SECONDS`) stands in for it.
"""
from __future__ import annotations

import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterable

from aiohttp import web
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from prometheus_client import Counter

from entrypoints.http.errors import ApiError
from entrypoints.http.keys import PRINCIPAL
from entrypoints.lean_imports import LIMITS_UNUSED_CLIENTS, hidden

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
log = logging.getLogger("payments.rate_limits")
API_PREFIX = "/api/v1/"
WEBHOOK_PREFIX = "/api/v1/payments/webhooks/"
UNLIMITED_ROLES = frozenset({"admin", "service"})
RETRY_STORAGE_SECONDS = 1.0
REDIS_TIMEOUT_SECONDS = 0.25  # connect, answer, wait for a free connection: a rate limit must never slow a payment much
REDIS_CONNECTIONS = 50  # per process: a hit holds one for a round trip; a burst beyond waits for one

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def redis_storage_uri(url: str) -> str:
    """`limits`' async storage URI of a `redis://`, `rediss://` or `redis+unix://` URL."""
    scheme, sep, rest = url.partition("://")
    return f"async+{scheme}{sep}{rest}" if scheme in ("redis", "rediss", "redis+unix") else url


def redis_storage(url: str) -> Storage:
    """`limits`' async Redis storage over redis-py's client: a pool of at most `REDIS_CONNECTIONS`
    (a burst waits up to `REDIS_TIMEOUT_SECONDS` for a free one instead of failing, as redis-py's
    default pool does past its 100), no retries (`RateLimiter` pauses after a failure instead)."""
    from redis.asyncio import BlockingConnectionPool
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    scheme, sep, rest = url.partition("://")
    pool = BlockingConnectionPool.from_url(
        f"{'unix' if scheme == 'redis+unix' else scheme}{sep}{rest}", max_connections=REDIS_CONNECTIONS,
        timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS, retry=Retry(NoBackoff(), 0))
    # The storage imports every Redis client it knows (coredis, redis-py, valkey) and is told to
    # use redis-py: the others are hidden from it (coredis pulls beartype, ~9 MB per worker;
    # entrypoints/lean_imports.py).
    with hidden(LIMITS_UNUSED_CLIENTS):
        return storage_from_string(redis_storage_uri(url), implementation="redispy", wrap_exceptions=True,
                                   connection_pool=pool)


class RateLimiter:
    """The two limits over one storage, failing open."""

    def __init__(self, storage: Storage, *, per_user: int, per_address: int, metrics_registry=None,
                 trusted_proxies: Iterable[str] = (), shared: bool = False,
                 now: Callable[[], float] = time.monotonic) -> None:
        self._storage = storage
        self._limiter = MovingWindowRateLimiter(storage)
        self._per_user = RateLimitItemPerMinute(per_user, namespace="payments-user-posts")
        self._per_address = RateLimitItemPerMinute(per_address, namespace="payments-webhooks")
        self._proxies: tuple[Network, ...] = tuple(ipaddress.ip_network(p, strict=False) for p in trusted_proxies)
        self.shared = shared
        self._now = now
        self._down_since: float | None = None
        self._retry_at = 0.0
        self.storage_errors = Counter(
            "payments_rate_limit_storage_errors_total",
            "Rate-limit hits the shared storage (Redis) failed to count; the request was let through",
            registry=metrics_registry) if metrics_registry is not None else None

    @classmethod
    def from_config(cls, config, metrics_registry=None) -> RateLimiter:
        if config.redis_url:
            storage = redis_storage(config.redis_url)
        else:
            storage = MemoryStorage()
        return cls(storage, per_user=config.rate_limit_per_minute, per_address=config.webhook_rate_limit_per_minute,
                   metrics_registry=metrics_registry, trusted_proxies=config.trusted_proxies,
                   shared=bool(config.redis_url))

    async def check(self, request: web.Request) -> None:
        """Count `request` if a limit applies to it; `ApiError` 429 when over."""
        if request.method != "POST" or not request.path.startswith(API_PREFIX):
            return
        if request.path.startswith(WEBHOOK_PREFIX):
            await self._hit(self._per_address, self.client_address(request))
            return
        principal = request.get(PRINCIPAL)
        if principal is None or principal.role in UNLIMITED_ROLES:
            return
        await self._hit(self._per_user, principal.user_id)

    async def _hit(self, item: RateLimitItemPerMinute, identifier: str) -> None:
        if self._down_since is not None and self._now() < self._retry_at:
            return  # Redis failed a moment ago: let through without waiting on it again
        try:
            allowed = await self._limiter.hit(item, identifier)
            if not allowed:
                reset_at, _ = await self._limiter.get_window_stats(item, identifier)
        except Exception as error:  # noqa: BLE001  # fail open: no Redis must never mean no payments
            self._storage_failed(error)
            return
        self._storage_answered()
        if not allowed:
            retry_after = max(1, math.ceil(reset_at - time.time()))
            raise ApiError(429, "rate_limited", "Too many requests; try again later.",
                           headers={"Retry-After": str(retry_after)})

    def _storage_failed(self, error: Exception) -> None:
        if self.storage_errors is not None:
            self.storage_errors.inc()
        now = self._now()
        self._retry_at = now + RETRY_STORAGE_SECONDS
        if self._down_since is None:
            self._down_since = now
            log.warning("rate-limit storage unavailable, requests are let through until it answers: %s: %s",
                        type(error).__name__, error)

    def _storage_answered(self) -> None:
        if self._down_since is not None:
            log.warning("rate-limit storage answers again after %.1f s; limits apply again",
                        self._now() - self._down_since)
            self._down_since = None

    def client_address(self, request: web.Request) -> str:
        peer = request.remote or ""
        if not self._proxies or not self._trusted(peer):
            return peer
        hops = [hop.strip() for header in request.headers.getall("X-Forwarded-For", ())
                for hop in header.split(",") if hop.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._proxies)


RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter", RateLimiter)


@web.middleware
async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """After authentication (the principal is known), before idempotency (a replay counts too:
    it is a request all the same)."""
    await request.app[RATE_LIMITER].check(request)
    return await handler(request)


def install(app: web.Application, config, metrics_registry=None) -> None:
    app[RATE_LIMITER] = RateLimiter.from_config(config, metrics_registry)
