"""JSON responses encoded with orjson (several times faster than the standard library)."""
from __future__ import annotations

from collections.abc import Mapping

import orjson
from aiohttp import web


def json_response(data: object, *, status: int = 200, headers: Mapping[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, headers=headers,
                        content_type="application/json", charset="utf-8")
