"""A request's body parsed as JSON once, for the idempotency fingerprint and the validation."""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from entrypoints.http.keys import PARSED_BODY

NOT_JSON: Any = object()  # the body is empty or not valid JSON


async def parsed_body(request: web.Request) -> Any:
    """The body as a JSON value (any JSON type), or `NOT_JSON`; parsed on the first call only."""
    if PARSED_BODY not in request:
        try:
            request[PARSED_BODY] = json.loads(await request.read())
        except ValueError:
            request[PARSED_BODY] = NOT_JSON
    return request[PARSED_BODY]
