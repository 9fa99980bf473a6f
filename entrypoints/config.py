"""Configuration from `PAYMENTS_*` environment variables, checked once at start-up.

Every problem stops start-up with one line naming the variable (`ConfigError`).
`PAYMENTS_ENV=production` refuses the development defaults: the development JWT and id secrets
and any payment method routed to the mock provider; it has no default routes and no default CORS origins.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import timedelta
from urllib.parse import urlsplit

import attrs

from domain.catalog import PAYMENT_METHODS
from domain.renewal import DEFAULT_POLICY, MAX_GRACE_DAYS, RenewalPolicy

DEVELOPMENT_JWT_SECRET = "development-jwt-secret-not-for-production"
DEVELOPMENT_ID_SECRET = "development-id-secret-not-for-production"
DEVELOPMENT_ROUTES = "wechat_pay=mock,alipay=mock,credit_card=mock,mock=mock"
DEVELOPMENT_CORS_ORIGINS = "http://localhost:3000,http://127.0.0.1:3000"
DEFAULT_DATABASE_URL = "sqlite:///./payments.db"
DATABASE_SCHEMES = ("postgresql", "postgres", "sqlite")  # a driver may follow: postgresql+asyncpg://
ENVIRONMENTS = ("development", "production")


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the variable."""


@attrs.frozen
class Config:
    env: str
    database_url: str
    host: str
    port: int
    public_url: str
    jwt_secret: str = attrs.field(repr=False)
    # The key of the HMAC that derives ids from an Idempotency-Key (adapters.ids).
    id_secret: str = attrs.field(repr=False, kw_only=True, default=DEVELOPMENT_ID_SECRET)
    # Tokens whose `exp` is further ahead than this are refused (no token lives forever).
    jwt_max_ttl_seconds: int = attrs.field(kw_only=True, default=86400)
    # Refunds: how long after a payment a user may ask; admin refunds above this need a second admin.
    refund_window_days: int = attrs.field(kw_only=True, default=30)
    refund_second_approval_above: int = attrs.field(kw_only=True, default=10000)
    # Auto-renewal (docs/renewals.md): notice and grace days, and the retry days of a declined charge.
    renewal: RenewalPolicy = attrs.field(kw_only=True, default=DEFAULT_POLICY)
    # Risk and rate limits (docs/risk.md): Redis shares the counters of every process when set.
    redis_url: str | None = attrs.field(repr=False, kw_only=True, default=None)
    rate_limit_per_minute: int = attrs.field(kw_only=True, default=30)
    webhook_rate_limit_per_minute: int = attrs.field(kw_only=True, default=600)
    risk_daily_limit: int = attrs.field(kw_only=True, default=50000)
    trusted_proxies: tuple[str, ...] = attrs.field(kw_only=True, default=())
    # Events to the main backend (docs/events.md): none are written unless the URL is set.
    events_url: str | None = attrs.field(kw_only=True, default=None)
    events_secret: str | None = attrs.field(kw_only=True, default=None, repr=False)
    events_timeout_seconds: int = attrs.field(kw_only=True, default=10)
    events_retention_days: int = attrs.field(kw_only=True, default=30)  # then settled events are purged
    mock_webhook_secret: str | None = attrs.field(repr=False)
    session_ttl: timedelta
    cors_origins: tuple[str, ...]
    return_url_hosts: frozenset[str]
    max_pending: int
    method_routes: Mapping[str, str]
    # Every PAYMENTS_* variable; `plugins.discover` hands each plugin only its own PAYMENTS_<NAME>_* ones.
    environ: Mapping[str, str] = attrs.field(repr=False)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def uses_development_jwt_secret(self) -> bool:
        return self.jwt_secret == DEVELOPMENT_JWT_SECRET


def load_config(environ: Mapping[str, str], *, host: str | None = None, port: int | None = None) -> Config:
    """Read and check the settings; `host`/`port` (command-line flags) win over the variables."""
    env = environ.get("PAYMENTS_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"PAYMENTS_ENV must be one of {', '.join(ENVIRONMENTS)}, not {env!r}")
    production = env == "production"
    host = host or environ.get("PAYMENTS_HOST", "127.0.0.1")
    port = port if port is not None else _integer(environ, "PAYMENTS_PORT", 8080, 1, 65535)
    jwt_secret = environ.get("PAYMENTS_JWT_SECRET") or DEVELOPMENT_JWT_SECRET
    if production and jwt_secret == DEVELOPMENT_JWT_SECRET:
        raise ConfigError("PAYMENTS_JWT_SECRET must be set in production (the development secret is refused)")
    if production and len(jwt_secret) < 32:
        raise ConfigError("PAYMENTS_JWT_SECRET must be at least 32 characters in production")
    routes = _routes(environ.get("PAYMENTS_METHOD_ROUTES", "" if production else DEVELOPMENT_ROUTES))
    if production and "mock" in routes.values():
        raise ConfigError("PAYMENTS_METHOD_ROUTES routes a payment method to the mock provider, "
                          "which is refused in production")
    id_secret = _id_secret(environ, jwt_secret, production)
    return Config(
        env=env,
        database_url=_database_url(environ.get("PAYMENTS_DATABASE_URL") or DEFAULT_DATABASE_URL),
        host=host,
        port=port,
        public_url=(environ.get("PAYMENTS_PUBLIC_URL") or f"http://{host}:{port}").rstrip("/"),
        jwt_secret=jwt_secret,
        id_secret=id_secret,
        jwt_max_ttl_seconds=_integer(environ, "PAYMENTS_JWT_MAX_TTL_SECONDS", 86400, 60, 30 * 86400),
        mock_webhook_secret=environ.get("PAYMENTS_MOCK_WEBHOOK_SECRET"),
        session_ttl=timedelta(seconds=_integer(environ, "PAYMENTS_SESSION_TTL_SECONDS", 3600, 60, 7 * 86400)),
        cors_origins=_list(environ.get("PAYMENTS_CORS_ORIGINS", "" if production else DEVELOPMENT_CORS_ORIGINS)),
        return_url_hosts=frozenset(_list(environ.get("PAYMENTS_RETURN_URL_HOSTS", "localhost,127.0.0.1"))),
        max_pending=_integer(environ, "PAYMENTS_MAX_PENDING", 5, 1, 1000),
        refund_window_days=_integer(environ, "PAYMENTS_REFUND_WINDOW_DAYS", 30, 0, 3650),
        refund_second_approval_above=_integer(environ, "PAYMENTS_REFUND_SECOND_APPROVAL_ABOVE", 10000, 0,
                                              10**12),
        redis_url=_redis_url(environ.get("PAYMENTS_REDIS_URL") or None),
        rate_limit_per_minute=_integer(environ, "PAYMENTS_RATE_LIMIT_PER_MINUTE", 30, 1, 10**6),
        webhook_rate_limit_per_minute=_integer(environ, "PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE", 600, 1, 10**6),
        risk_daily_limit=_integer(environ, "PAYMENTS_RISK_DAILY_LIMIT", 50000, 1, 10**12),
        trusted_proxies=_trusted_proxies(environ.get("PAYMENTS_TRUSTED_PROXIES", "")),
        renewal=_renewal(environ),
        method_routes=routes,
        **_events(environ, production),
        environ={k: v for k, v in environ.items() if k.startswith("PAYMENTS_")},
    )


def _events(environ: Mapping[str, str], production: bool) -> dict:
    """PAYMENTS_EVENTS_URL (http or https), with PAYMENTS_EVENTS_SECRET required beside it:
    `whsec_` and a base64 key, as Standard Webhooks' libraries take it (the prefix may be left
    out); 24 bytes at least in production (the scheme's advice: 24 to 64 random bytes).
    PAYMENTS_EVENTS_RETENTION_DAYS: how long settled events are kept (1-3650 days)."""
    url = environ.get("PAYMENTS_EVENTS_URL") or None
    secret = environ.get("PAYMENTS_EVENTS_SECRET") or None
    timeout = _integer(environ, "PAYMENTS_EVENTS_TIMEOUT_SECONDS", 10, 1, 60)
    retention = _integer(environ, "PAYMENTS_EVENTS_RETENTION_DAYS", 30, 1, 3650)
    if url is None:
        return {"events_timeout_seconds": timeout, "events_retention_days": retention}
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"PAYMENTS_EVENTS_URL must be an http:// or https:// URL, not {url!r}")
    if secret is None:
        raise ConfigError("PAYMENTS_EVENTS_SECRET must be set when PAYMENTS_EVENTS_URL is "
                          "(whsec_ and the base64 of 24 to 64 random bytes)")
    key = secret.removeprefix("whsec_")
    try:
        size = len(base64.b64decode(key + "=" * (-len(key) % 4), validate=True))
    except ValueError:
        size = 0
    if size == 0:
        raise ConfigError("PAYMENTS_EVENTS_SECRET must be whsec_ and a base64 key (of 24 to 64 random bytes)")
    if production and size < 24:
        raise ConfigError("PAYMENTS_EVENTS_SECRET must be a key of at least 24 bytes in production "
                          "(whsec_ and the base64 of 24 to 64 random bytes)")
    return {"events_url": url, "events_secret": secret, "events_timeout_seconds": timeout,
            "events_retention_days": retention}


def _id_secret(environ: Mapping[str, str], jwt_secret: str, production: bool) -> str:
    """The key of derived ids. In production the development default and short keys are refused;
    an unset one is derived from the (checked) JWT secret, so the ids stay keyed with a secret of
    the server's (a separate `PAYMENTS_ID_SECRET` lets the JWT secret rotate without changing
    them)."""
    id_secret = environ.get("PAYMENTS_ID_SECRET")
    if not production:
        return id_secret or DEVELOPMENT_ID_SECRET
    if id_secret is None or id_secret == "":
        return hmac.new(jwt_secret.encode(), b"payments id secret", hashlib.sha256).hexdigest()
    if id_secret == DEVELOPMENT_ID_SECRET or len(id_secret) < 32:
        raise ConfigError("PAYMENTS_ID_SECRET must be at least 32 characters in production "
                          "(the development secret is refused)")
    return id_secret


def _redis_url(url: str | None) -> str | None:
    """redis://host:6379/0, rediss:// (TLS) or redis+unix:///path: where the rate-limit counters live."""
    if url is None:
        return None
    scheme = url.partition("://")[0].lower()
    if scheme not in ("redis", "rediss", "redis+unix") or "://" not in url:
        raise ConfigError(f"PAYMENTS_REDIS_URL must be a redis://, rediss:// or redis+unix:// URL, not "
                          f"{redacted_url(url)!r}")
    return url


def _trusted_proxies(raw: str) -> tuple[str, ...]:
    """Addresses or networks (`10.0.0.0/8`) of the proxies whose `X-Forwarded-For` is believed."""
    import ipaddress
    for item in _list(raw):
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"PAYMENTS_TRUSTED_PROXIES must list addresses or networks, not {item!r}") from None
    return _list(raw)


def redacted_url(url: str) -> str:
    """A database URL without its password, for messages (also when the URL does not parse)."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    return f"{scheme}{sep}{credentials.split(':')[0]}@{host}"


def _database_url(url: str) -> str:
    """The URL if it parses and names a database we speak; whether it answers is checked where
    it is first used (`payments migrate`, and `payments serve` before it migrates)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what checks it
    except ValueError as error:
        raise ConfigError(f"PAYMENTS_DATABASE_URL is not a valid URL ({error}): {redacted_url(url)}") from None
    scheme = parts.scheme.split("+", 1)[0].lower()
    if scheme not in DATABASE_SCHEMES:
        raise ConfigError(f"PAYMENTS_DATABASE_URL has an unknown scheme {parts.scheme or '(none)'!r} "
                          f"(use postgresql://user@host:5432/db or sqlite:///./payments.db): {redacted_url(url)}")
    return url


def _renewal(environ: Mapping[str, str]) -> RenewalPolicy:
    """PAYMENTS_RENEWAL_NOTICE_DAYS (0-27), PAYMENTS_RENEWAL_GRACE_DAYS (1-27) and
    PAYMENTS_RENEWAL_RETRY_DAYS (distinct days, ascending, each within the grace period; `none`: no
    retry; unset: the default days that fall within the grace period)."""
    notice = _integer(environ, "PAYMENTS_RENEWAL_NOTICE_DAYS", 3, 0, 27)
    grace = _integer(environ, "PAYMENTS_RENEWAL_GRACE_DAYS", 7, 1, MAX_GRACE_DAYS)
    raw = (environ.get("PAYMENTS_RENEWAL_RETRY_DAYS") or "").strip()
    retry = tuple(day for day in DEFAULT_POLICY.retry_days if day < grace)  # the defaults that fit
    if raw.lower() == "none":
        retry = ()
    elif raw:
        try:
            retry = tuple(int(item) for item in raw.split(","))
        except ValueError:
            raise ConfigError(f"PAYMENTS_RENEWAL_RETRY_DAYS must be comma-separated whole numbers of days (or none), "
                              f"not {raw!r}") from None
    try:
        return RenewalPolicy(notice_days=notice, grace_days=grace, retry_days=retry)
    except ValueError:
        raise ConfigError(f"PAYMENTS_RENEWAL_RETRY_DAYS must be distinct days in ascending order, each from 1 to "
                          f"PAYMENTS_RENEWAL_GRACE_DAYS - 1 ({grace - 1}), not {raw!r}") from None


def _integer(environ: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, not {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, not {value}")
    return value


def _list(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _routes(raw: str) -> dict[str, str]:
    routes = {}
    for item in _list(raw):
        method, sep, provider = (part.strip() for part in item.partition("="))
        if not sep or not method or not provider:
            raise ConfigError(f"PAYMENTS_METHOD_ROUTES must be method=provider pairs, not {item!r}")
        if method not in PAYMENT_METHODS:
            raise ConfigError(f"PAYMENTS_METHOD_ROUTES names an unknown payment method {method!r} "
                              f"(known: {', '.join(PAYMENT_METHODS)})")
        routes[method] = provider
    return routes
