"""CORS for the browser origins in `PAYMENTS_CORS_ORIGINS`.

aiohttp-cors answers the preflights of the `/api/v1` routes and adds the CORS headers to the
responses of those routes. It does not see the answers to requests that matched no route (404),
that matched a route with the wrong method (405), or whose route is not an API one; and a
browser hides from the page any answer without them, so the frontend could not read their error
code. `complete_headers`, a response hook that runs after aiohttp-cors's, adds the same
headers to every error answer and every `/api/v1` answer that lacks them, when the request's
`Origin` is allowed; and says `Vary: Origin` on them, since what they carry depends on it.

A browser sends a preflight before any request with a token, and reads the answer only if the
preflight passed; aiohttp-cors answers no preflight for a path that matches no route, so
`preflight_anywhere_in_the_api` answers those (under `/api/v1`, from an allowed origin, for `GET`
or `POST` and headers we allow) as aiohttp-cors would for any route: the request that follows
then gets its 404 with the CORS headers, readable. As GitHub's API does, the preflight tells what
the API allows in general; the answer to the request tells the truth about the path.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp_cors
from aiohttp import hdrs, web

from entrypoints.http import middlewares

API_PREFIX = "/api/v1/"
EXPOSED_HEADERS = ("X-Request-ID", "Idempotent-Replayed", "Retry-After")
ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID", "Accept-Language",
                   "Last-Event-ID")
ALLOWED_METHODS = ("GET", "POST")
MAX_AGE_SECONDS = 600

ResponseHook = Callable[[web.Request, web.StreamResponse], Awaitable[None]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
    # Inside the request context (request id, access log), before authentication refuses the path.
    app.middlewares.insert(app.middlewares.index(middlewares.context) + 1,
                           preflight_anywhere_in_the_api(frozenset(origins)))


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


def preflight_anywhere_in_the_api(origins: frozenset[str]):
    """A middleware answering the preflights of `/api/v1` paths that match no route."""
    allowed_headers = frozenset(name.lower() for name in ALLOWED_HEADERS)

    @web.middleware
    async def preflight(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method != hdrs.METH_OPTIONS or request.match_info.http_exception is None \
                or not request.path.startswith(API_PREFIX):
            return await handler(request)
        origin = request.headers.get(hdrs.ORIGIN)
        method = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_METHOD)
        asked = request.headers.get(hdrs.ACCESS_CONTROL_REQUEST_HEADERS, "")
        names = {name.strip().lower() for name in asked.split(",") if name.strip()}
        if origin not in origins or method not in ALLOWED_METHODS or not names <= allowed_headers:
            return await handler(request)  # not a preflight we allow: the path's own answer (404)
        headers = {hdrs.ACCESS_CONTROL_ALLOW_ORIGIN: origin, hdrs.ACCESS_CONTROL_ALLOW_METHODS: method,
                   hdrs.ACCESS_CONTROL_MAX_AGE: str(MAX_AGE_SECONDS)}
        if names:
            headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ",".join(sorted(names)).upper()
        return web.Response(status=200, headers=headers)

    return preflight


def add_vary(response: web.StreamResponse, header: str) -> None:
    """Add `header` to the response's `Vary` (once, keeping what is there)."""
    current = response.headers.get(hdrs.VARY)
    if not current:
        response.headers[hdrs.VARY] = header
    elif header.lower() not in {name.strip().lower() for name in current.split(",")}:
        response.headers[hdrs.VARY] = f"{current}, {header}"
