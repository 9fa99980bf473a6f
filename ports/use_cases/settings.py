"""What the use cases are configured with: the catalog, limits, lifetimes and where providers
send notifications. Built by the composition root from `PAYMENTS_*` settings."""
from __future__ import annotations

import functools
import re
from datetime import timedelta

import attrs

from domain.catalog import DEFAULT_CATALOG, Catalog
from domain.errors import DomainValidationError
from domain.renewal import DEFAULT_POLICY, RenewalPolicy


@attrs.frozen
class UseCaseSettings:
    # Where a provider sends its notifications: built by the HTTP layer, which owns the route.
    notify_url_template: str = "http://127.0.0.1:8080/webhooks/{provider}"
    catalog: Catalog = DEFAULT_CATALOG
    max_pending: int = 5
    session_ttl: timedelta = timedelta(hours=1)
    return_url_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1"})
    refund_window: timedelta = timedelta(days=30)  # how long after a payment a user may ask for a refund
    refund_second_approval_above: int = 10000      # admin refunds above this (minor units) need another admin
    renewal: RenewalPolicy = DEFAULT_POLICY        # notice, grace and retry days of auto-renewal

    def notify_url(self, provider: str) -> str:
        return self.notify_url_template.format(provider=provider)

    def check_return_url(self, url: str | None) -> str | None:
        """`url` if it is an http(s) URL on an allowed host (no open redirects); else 422.

        What matters is the host a browser goes to, which it finds by the WHATWG URL rules, not
        by RFC 3986 (Python's `urlsplit`): a browser strips tabs and newlines, reads `\\` as `/`
        and `http:/x`, `http:\\x` or `http:x` as `http://x`, so `http://evil.com\\@localhost/` is
        evil.com to a browser and localhost to `urlsplit`. Rather than parse every form, only one
        narrow form is accepted (`return_url_pattern`), on which both sets of rules read the same
        scheme, host and port: `http(s)://host[:port][/?#rest]`, in lower case as browsers write
        it, the host exactly one of the allowed ones, so no user info (`@`), a port of 1-65535, and
        the rest of printable ASCII without backslashes (so no white space or control characters
        anywhere). Anything else is refused, even where a browser would agree. A WHATWG parser
        (such as the `ada-url` package) would be one more dependency that could only confirm what
        this form already guarantees; the OpenAPI document states the same pattern."""
        if url is None:
            return None
        if _compiled(self.return_url_hosts).fullmatch(url) is None:
            raise DomainValidationError(
                "Must be an http(s) URL on an allowed host, with no user name, backslash, white space or "
                "control character, and a port of 1-65535.", field="return_url")
        return url


_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_REST = r"(?:[/?#][\x21-\x5b\x5d-\x7e]*)?"  # printable ASCII but `\`, after a `/`, `?` or `#`


def return_url_pattern(hosts: frozenset[str]) -> str:
    """The regular expression (Python's and ECMA's alike) of every `return_url` accepted with
    `hosts` allowed: `http(s)://`, one of `hosts`, an optional port of 1-65535 (no leading zero),
    then nothing or printable ASCII but `\\` after a `/`, `?` or `#`."""
    names = "|".join(re.escape(host) for host in sorted(hosts)) or "(?!)"
    return f"^https?://(?:{names})(?::{_PORT})?{_REST}$"


@functools.lru_cache(maxsize=8)
def _compiled(hosts: frozenset[str]) -> re.Pattern[str]:
    return re.compile(return_url_pattern(hosts))
