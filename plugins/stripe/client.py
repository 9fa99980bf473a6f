"""Calls to Stripe's API through the service's shared `httpx.AsyncClient`: absolute URLs, the
secret key, a pinned `Stripe-Version` and an `Idempotency-Key` on every POST, per request. Stripe's
answers come back as parsed JSON; its errors (PROTOCOLS.md §4.8) as the port's, and no httpx
exception escapes:

| Stripe's answer                                   | raised                                          |
|---------------------------------------------------|-------------------------------------------------|
| transport error, timeout, 5xx, 429 (`rate_limit_error`), 409 (a request with that key in flight) | `StripeUnavailableError` (`ProviderUnavailableError`: outcome unknown) |
| 402 `card_error`                                  | `StripeCardError`, with its `decline_code` (and the PaymentIntent it made, `payment_intent_id`) |
| 400 `idempotency_error`                           | `StripeIdempotencyError` (the key was used with other parameters) |
| 404 (`resource_missing`)                          | `StripeNotFoundError`                           |
| any other 4xx (`invalid_request_error`, 401 bad key, 403) | `StripeError` (`ProviderError`)         |
| a 2xx that is not a JSON object                   | `StripeError`                                   |
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from domain.errors import ProviderError, ProviderUnavailableError
from plugins.stripe.wire import encode, form_pairs

if TYPE_CHECKING:
    import httpx

API_VERSION = "2026-10-28.endive"  # the version stripe-python 16.1.0 pins; webhook payloads follow the endpoint's
_FORM = "application/x-www-form-urlencoded"


class StripeErrorDetails:
    """What Stripe said about a failed call (all optional)."""

    http_status: int | None = None
    type: str | None = None
    stripe_code: str | None = None
    decline_code: str | None = None
    request_id: str | None = None
    payment_intent_id: str | None = None  # a confirmation's error names the PaymentIntent it left behind

    def _describe(self, http_status: int | None, body: Mapping[str, Any], request_id: str | None) -> None:
        self.http_status = http_status
        self.type = _text(body.get("type"))
        self.stripe_code = _text(body.get("code"))
        self.decline_code = _text(body.get("decline_code"))
        self.request_id = request_id
        intent = body.get("payment_intent")
        self.payment_intent_id = _text(intent.get("id") if isinstance(intent, dict) else intent)


class StripeError(StripeErrorDetails, ProviderError):
    """Stripe refused the call (its outcome is known: nothing was done)."""


class StripeCardError(StripeError):
    """`card_error`: the card was declined (`decline_code`)."""


class StripeIdempotencyError(StripeError):
    """`idempotency_error`: this Idempotency-Key was first used with other parameters."""


class StripeNotFoundError(StripeError):
    """404: no such object (`resource_missing`)."""


class StripeUnavailableError(StripeErrorDetails, ProviderUnavailableError):
    """Stripe could not be reached or failed on its side: the outcome is unknown."""


class StripeApi:
    """Stripe's REST API at `api_base` with `secret_key`, over `http`."""

    def __init__(self, http: httpx.AsyncClient, *, secret_key: str, api_base: str) -> None:
        self._http = http
        self._secret_key = secret_key
        self._api_base = api_base.rstrip("/")

    def url(self, path: str, *ids: str) -> str:
        """The absolute URL of `path`, its `{}` filled with `ids`, each escaped as one segment."""
        return self._api_base + path.format(*(quote(i, safe="") for i in ids))

    async def get(self, path: str, *ids: str, params: Mapping[str, Any] | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
        """`timeout` (seconds) replaces the shared client's for this request."""
        query = list(form_pairs(params or {}))
        return await self._call("GET", self.url(path, *ids), params=query, content=None, idempotency_key=None,
                                timeout=timeout)

    async def post(self, path: str, *ids: str, params: Mapping[str, Any] | None = None,
                   idempotency_key: str) -> dict[str, Any]:
        return await self._call("POST", self.url(path, *ids), params=None, content=encode(params or {}),
                                idempotency_key=idempotency_key)

    async def _call(self, method: str, url: str, *, params: list[tuple[str, str]] | None, content: bytes | None,
                    idempotency_key: str | None, timeout: float | None = None) -> dict[str, Any]:
        import httpx  # the plugin's module imports stay light; the shared client has loaded it by now

        headers = {"Authorization": f"Bearer {self._secret_key}", "Stripe-Version": API_VERSION,
                   "Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = _FORM
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        what = f"Stripe {method} {url.removeprefix(self._api_base)}"
        try:
            extra = {"timeout": timeout} if timeout is not None else {}
            response = await self._http.request(method, url, params=params, content=content, headers=headers,
                                                **extra)
            raw = response.content
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as error:  # refused, reset, timed out
            raise StripeUnavailableError(f"{what}: {type(error).__name__}") from None
        request_id = response.headers.get("Request-Id")
        document = _json_object(raw)
        if 200 <= response.status_code < 300:
            if document is None:
                raise _error(StripeError, f"{what}: HTTP {response.status_code} with an unreadable body",
                             response.status_code, {}, request_id)
            return document
        return _raise_for(what, response.status_code, document, request_id)


def _raise_for(what: str, status: int, document: dict[str, Any] | None, request_id: str | None) -> Any:
    body = document.get("error") if document else None
    body = body if isinstance(body, dict) else {}
    kind = _text(body.get("type"))
    detail = " ".join(part for part in (f"HTTP {status}", kind, _text(body.get("code")),
                                        _text(body.get("decline_code")), _text(body.get("message"))) if part)
    message = f"{what}: {detail}"
    if status >= 500 or status in (409, 429) or kind == "rate_limit_error":
        raise _error(StripeUnavailableError, message, status, body, request_id)
    if kind == "card_error" or status == 402:
        raise _error(StripeCardError, message, status, body, request_id)
    if kind == "idempotency_error":
        raise _error(StripeIdempotencyError, message, status, body, request_id)
    if status == 404:
        raise _error(StripeNotFoundError, message, status, body, request_id)
    raise _error(StripeError, message, status, body, request_id)


def _error(cls: type, message: str, status: int, body: Mapping[str, Any], request_id: str | None) -> Exception:
    error = cls(message)
    error._describe(status, body, request_id)
    return error


def _json_object(raw: bytes) -> dict[str, Any] | None:
    try:
        document = json.loads(raw)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
