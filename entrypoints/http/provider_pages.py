"""Pages that provider plugins serve themselves, through the port's optional `web_routes()` hook
(the mock's hosted checkout page `/mock-checkout/{session_id}`).

The providers are built when the app starts, so their routes are added then too (before aiohttp
freezes the router): one route per method and path. When several loaded providers offer the same
one (the in-memory set-up registers the mock under every provider name), their handlers are tried
in the providers' name order and a handler that raises `web.HTTPNotFound` passes the request on;
the last one's answer stands.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from entrypoints.http.keys import PROVIDERS

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def mount(app: web.Application) -> None:
    """Add the loaded providers' pages to `app` once they are built (at start-up)."""
    async def add_routes(app: web.Application) -> None:
        app.router.add_routes(provider_routes(app[PROVIDERS].providers))

    app.on_startup.append(add_routes)


def provider_routes(providers: dict) -> list[web.RouteDef]:
    grouped: dict[tuple[str, str], list[web.RouteDef]] = {}
    for _, provider in sorted(providers.items()):
        web_routes = getattr(provider, "web_routes", None)
        for route in web_routes() if web_routes is not None else ():
            grouped.setdefault((route.method, route.path), []).append(route)
    return [web.RouteDef(method, path, _first_that_knows([r.handler for r in routes]), routes[0].kwargs)
            for (method, path), routes in grouped.items()]


def _first_that_knows(handlers: Sequence[Handler]) -> Handler:
    if len(handlers) == 1:
        return handlers[0]

    async def handler(request: web.Request) -> web.StreamResponse:
        for candidate in handlers[:-1]:
            try:
                return await candidate(request)
            except web.HTTPNotFound:
                continue
        return await handlers[-1](request)

    return handler
