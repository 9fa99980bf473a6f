"""Typed keys of what the application and requests carry (aiohttp `AppKey`s, never bare strings)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

USE_CASES: web.AppKey[Any] = web.AppKey("use_cases", object)
CONTAINER: web.AppKey[Any] = web.AppKey("container", object)
TOKENS: web.AppKey[Any] = web.AppKey("tokens", object)
IDEMPOTENCY: web.AppKey[Any] = web.AppKey("idempotency", object)
CONFIG: web.AppKey[Any] = web.AppKey("config", object)
METRICS: web.AppKey[Any] = web.AppKey("metrics", object)
SESSION_FEED: web.AppKey[Any] = web.AppKey("session_feed", object)
PROVIDERS: web.AppKey[Any] = web.AppKey("providers", object)
READINESS: web.AppKey[Any] = web.AppKey("readiness", object)

REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
PRINCIPAL: web.RequestKey[Any] = web.RequestKey("principal", object)
JSON_BODY: web.RequestKey[dict] = web.RequestKey("json", dict)
PARSED_BODY: web.RequestKey[Any] = web.RequestKey("parsed_body", object)
QUERY: web.RequestKey[dict] = web.RequestKey("querystring", dict)
VALIDATED = {"json": JSON_BODY, "querystring": QUERY}
