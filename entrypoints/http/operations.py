"""Operational endpoints: liveness, readiness (the database answers) and Prometheus metrics."""
from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from entrypoints.http.keys import METRICS, READINESS
from entrypoints.http.responses import json_response


async def healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if await request.app[READINESS]():
        return json_response({"status": "ready"})
    return json_response({"error": {"code": "not_ready", "message": "The database does not answer."}}, status=503)


async def metrics(request: web.Request) -> web.Response:
    await request.app[METRICS].refresh()  # the gauges read from the database
    body = generate_latest(request.app[METRICS].registry)
    response = web.Response(body=body)
    response.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return response
