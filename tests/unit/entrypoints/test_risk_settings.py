"""The risk and rate-limit settings (docs/risk.md): their defaults, refusals naming the variable,
and how the rate limiter finds a client's address behind trusted proxies."""
from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request
from limits.aio.storage import MemoryStorage

from entrypoints.config import ConfigError, load_config
from entrypoints.http.rate_limits import RateLimiter, redis_storage_uri


def test_defaults_are_the_contracts():
    config = load_config({})
    assert (config.redis_url, config.rate_limit_per_minute, config.webhook_rate_limit_per_minute,
            config.risk_daily_limit, config.trusted_proxies) == (None, 30, 600, 50000, ())


@pytest.mark.parametrize("name, value", [
    ("PAYMENTS_RATE_LIMIT_PER_MINUTE", "0"), ("PAYMENTS_RATE_LIMIT_PER_MINUTE", "many"),
    ("PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE", "-1"), ("PAYMENTS_RISK_DAILY_LIMIT", "12.5"),
    ("PAYMENTS_TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal"), ("PAYMENTS_REDIS_URL", "http://cache:6379"),
    ("PAYMENTS_REDIS_URL", "127.0.0.1:6379"),
])
def test_a_bad_value_stops_start_up_naming_the_variable(name, value):
    with pytest.raises(ConfigError, match=name):
        load_config({name: value})


def test_a_redis_url_in_a_message_never_shows_its_password():
    with pytest.raises(ConfigError) as refused:
        load_config({"PAYMENTS_REDIS_URL": "http://user:s3cret@cache:6379"})
    assert "s3cret" not in str(refused.value)


def test_redis_urls_become_limits_async_storages():
    assert redis_storage_uri("redis://127.0.0.1:6379/0") == "async+redis://127.0.0.1:6379/0"
    assert redis_storage_uri("rediss://cache:6380") == "async+rediss://cache:6380"
    assert redis_storage_uri("redis+unix:///run/redis.sock") == "async+redis+unix:///run/redis.sock"


def address(proxies: tuple[str, ...], peer: str, forwarded: str | None) -> str:
    limiter = RateLimiter(MemoryStorage(), per_user=1, per_address=1, trusted_proxies=proxies)
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    request = make_mocked_request("POST", "/api/v1/payments/webhooks/mock", headers=headers,
                                  transport=_Transport(peer))
    return limiter.client_address(request)


class _Transport:
    def __init__(self, peer: str) -> None:
        self._peer = peer

    def get_extra_info(self, name: str, default=None):
        return (self._peer, 40000) if name == "peername" else default

    def is_closing(self) -> bool:
        return False


def test_x_forwarded_for_is_read_from_the_right_skipping_trusted_proxies_only():
    assert address((), "198.51.100.9", "203.0.113.1") == "198.51.100.9"  # no proxies trusted: the peer
    assert address(("10.0.0.0/8",), "198.51.100.9", "203.0.113.1") == "198.51.100.9"  # the peer is no proxy
    assert address(("10.0.0.0/8",), "10.0.0.2", "203.0.113.1") == "203.0.113.1"
    assert address(("10.0.0.0/8",), "10.0.0.2", "6.6.6.6, 203.0.113.1, 10.0.0.3") == "203.0.113.1"
    assert address(("10.0.0.0/8",), "10.0.0.2", "not-an-address, 203.0.113.1") == "203.0.113.1"
    assert address(("10.0.0.0/8",), "10.0.0.2", None) == "10.0.0.2"  # a proxy that added nothing
    assert address(("10.0.0.0/8", "2001:db8::/32"), "2001:db8::1", "2001:db9::5") == "2001:db9::5"
