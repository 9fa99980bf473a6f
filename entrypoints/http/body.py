"""A request's body parsed as JSON once, for the idempotency fingerprint and the validation.

No body the API takes nests deeper than two levels, so a body nesting deeper than `MAX_DEPTH`
is refused like one that is not JSON (400 `malformed_json`): RFC 8259 lets a parser limit
nesting, and deep values would otherwise overflow the stack of the parser, the fingerprint or
the validation (a `RecursionError`, a 500)."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from entrypoints.http.keys import PARSED_BODY

NOT_JSON: Any = object()  # the body is empty, not valid JSON, or nested deeper than MAX_DEPTH
MAX_DEPTH = 32


async def parsed_body(request: web.Request) -> Any:
    """The body as a JSON value (any JSON type), or `NOT_JSON`; parsed on the first call only."""
    if PARSED_BODY not in request:
        try:
            value = json.loads(await request.read())
        except (ValueError, RecursionError):
            value = NOT_JSON
        request[PARSED_BODY] = NOT_JSON if value is not NOT_JSON and _too_deep(value) else value
    return request[PARSED_BODY]


def _too_deep(value: Any) -> bool:
    """Whether `value` nests containers deeper than MAX_DEPTH (without recursing)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False
