"""How long a client may take to send a request: a slow sender (a body at one byte a second)
must not hold a connection, and a handler, for minutes.

- Headers: aiohttp closes a connection still waiting for a request's headers when its
  keep-alive deadline passes (counted from the connection's start, or from the previous
  response), so the server's `keepalive_timeout` bounds both header reading and idle keep-alive:
  PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS (default 10).
- Bodies: aiohttp has no body timeout; `read_body_within` reads the whole body (at most the
  app's `client_max_size`) under a deadline before the handler runs, and handlers then read it
  from aiohttp's cache: PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS (default 30). A body not in by then is
  answered 400 `malformed_json` and the connection is closed (no lingering read of the rest).

`payments serve` applies both (`entrypoints/http/server.py`); docs/operations.md lists them.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping

import attrs
from aiohttp import web

from entrypoints.http.errors import error_response

HEADER_TIMEOUT_VARIABLE = "PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS"
BODY_TIMEOUT_VARIABLE = "PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS"
HEADER_TIMEOUT_SECONDS = 10.0
BODY_TIMEOUT_SECONDS = 30.0
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@attrs.frozen
class Timeouts:
    header_seconds: float = HEADER_TIMEOUT_SECONDS
    body_seconds: float = BODY_TIMEOUT_SECONDS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Timeouts:
        """The limits from the environment; ValueError naming the variable when one is not a
        number of seconds in (0, 3600]."""
        return cls(_seconds(environ, HEADER_TIMEOUT_VARIABLE, HEADER_TIMEOUT_SECONDS),
                   _seconds(environ, BODY_TIMEOUT_VARIABLE, BODY_TIMEOUT_SECONDS))


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 3600:  # also refuses nan and inf
        raise ValueError(f"{name} must be a number of seconds between 0 and 3600, not {raw!r}")
    return value


def read_body_within(seconds: float) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A middleware that reads a request's body within `seconds` before the handler runs."""

    @web.middleware
    async def read_body_in_time(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.body_exists:
            try:
                async with asyncio.timeout(seconds):
                    await request.read()  # cached: the handler's own read() returns it at once
            except TimeoutError:
                response = error_response(400, "malformed_json",
                                          f"The request body did not arrive within {seconds:g} seconds.")
                response.force_close()
                await response.prepare(request)
                await response.write_eof()
                request.protocol.force_close()  # sent; the rest of the body is not waited for (no lingering)
                return response
        return await handler(request)

    return read_body_in_time


def install(app: web.Application, timeouts: Timeouts) -> None:
    """Add the body deadline to `app` (not yet frozen): after the request context (request id,
    access log, error shape) and authentication, so an anonymous caller's body is never read."""
    from entrypoints.http import middlewares

    chain = list(app.middlewares)
    position = chain.index(middlewares.authentication) + 1 if middlewares.authentication in chain else 0
    app.middlewares.insert(position, read_body_within(timeouts.body_seconds))
