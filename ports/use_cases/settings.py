"""What the use cases are configured with: the catalog, limits, lifetimes and where providers
send notifications. Built by the composition root from `PAYMENTS_*` settings."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import attrs

from domain.catalog import DEFAULT_CATALOG, Catalog
from domain.errors import DomainValidationError


@attrs.frozen
class UseCaseSettings:
    # Where a provider sends its notifications: built by the HTTP layer, which owns the route.
    notify_url_template: str = "http://127.0.0.1:8080/webhooks/{provider}"
    catalog: Catalog = DEFAULT_CATALOG
    max_pending: int = 5
    session_ttl: timedelta = timedelta(hours=1)
    return_url_hosts: frozenset[str] = frozenset({"localhost", "127.0.0.1"})

    def notify_url(self, provider: str) -> str:
        return self.notify_url_template.format(provider=provider)

    def check_return_url(self, url: str | None) -> str | None:
        """`url` if it is an http(s) URL on an allowed host (no open redirects); else 422."""
        if url is None:
            return None
        parts = urlsplit(url)
        printable = all("\x21" <= c <= "\x7e" for c in url)
        if not printable or parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.return_url_hosts:
            raise DomainValidationError("Must be an http(s) URL on an allowed host.", field="return_url")
        return url
