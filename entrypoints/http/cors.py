"""CORS for the browser origins in `PAYMENTS_CORS_ORIGINS`.

aiohttp-cors answers the preflights of the `/api/v1` routes and adds the CORS headers to the
responses of those routes. It does not see the answers to requests that matched no route (404),
that matched a route with the wrong method (405), or whose route is not an API one: yet a browser
shows a page none of them unless they carry the headers too, so the frontend could not read
their error code. `complete_headers`, a response hook that runs after aiohttp-cors's, adds the same
headers to every error answer and every `/api/v1` answer that lacks them, when the request's
`Origin` is allowed; and says `Vary: Origin` on them, since what they carry depends on it.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp_cors
from aiohttp import hdrs, web

API_PREFIX = "/api/v1/"
EXPOSED_HEADERS = ("X-Request-ID", "Idempotent-Replayed", "Retry-After")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "Accept-Language",
                   "Last-Event-ID")
ALLOWED_METHODS = ("GET", "POST")
MAX_AGE_SECONDS = 600

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]


def install(app: web.Application, origins: tuple[str, ...]) -> None:
    """CORS for `origins` on `app`, whose routes are all added: preflights of every `/api/v1`
    route, and the headers on their answers and on every error answer. No origins, no CORS."""
    if not origins:
        return
    options = aiohttp_cors.ResourceOptions(
        allow_credentials=False, expose_headers=EXPOSED_HEADERS, allow_headers=ALLOWED_HEADERS,
        allow_methods=ALLOWED_METHODS, max_age=MAX_AGE_SECONDS)
    cors = aiohttp_cors.setup(app, defaults={origin: options for origin in origins})
    for route in list(app.router.routes()):
        if route.resource is not None and route.resource.canonical.startswith(API_PREFIX):
            cors.add(route)
    # After aiohttp-cors's own hook (appended by `setup`), which refuses to run on headers already set.
    app.on_response_prepare.append(complete_headers(frozenset(origins)))


def complete_headers(origins: frozenset[str]) -> ResponseHook:
    """The `on_response_prepare` hook that adds the CORS headers where aiohttp-cors did not."""
    exposed = ",".join(EXPOSED_HEADERS)

    async def add_missing(request: web.Request, response: web.StreamResponse) -> None:
        if response.status < 400 and not request.path.startswith(API_PREFIX):
            return  # a page or an operational endpoint: no CORS
        add_vary(response, hdrs.ORIGIN)
        if request.method == hdrs.METH_OPTIONS and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers:
            return  # a preflight: aiohttp-cors's answer stands (a refused one allows nothing)
        origin = request.headers.get(hdrs.ORIGIN)
        if origin in origins and hdrs.ACCESS_CONTROL_ALLOW_ORIGIN not in response.headers:
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
            response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = exposed

    return add_missing


def add_vary(response: web.StreamResponse, header: str) -> None:
    """Add `header` to the response's `Vary` (once, keeping what is there)."""
    current = response.headers.get(hdrs.VARY)
    if not current:
        response.headers[hdrs.VARY] = header
    elif header.lower() not in {name.strip().lower() for name in current.split(",")}:
        response.headers[hdrs.VARY] = f"{current}, {header}"
