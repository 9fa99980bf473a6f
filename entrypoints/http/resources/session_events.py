"""`GET /api/v1/payments/sessions/{id}/events`: the push alternative to polling a session.

A `text/event-stream` that sends the session as an event `session` at once and on every status
change, and ends when the session is no longer open, or when the bearer token expires (a stream
never outlives its token; the client reconnects with a fresh one). Changes made by any process reach it
through the session feed (PostgreSQL LISTEN/NOTIFY, or in-process); it also re-reads the session
every few seconds and at `expires_at`, so a lost hint or a time-based expiry is never missed.
A browser's EventSource cannot send headers, so the token may come as `access_token` in the
query string (never logged).

Every event carries `id: <session id>:<status>` (a session passes through each status at most
once, so the id changes with every status) and `retry: 5000` (an EventSource waits 5 s before it
reconnects). A reconnect whose `Last-Event-ID` is the id of the session's current status, and that
status is final, is answered 204 without a body: the browser has seen the end, and a 204 is what
makes an EventSource stop reconnecting (`readyState` CLOSED). Any other `Last-Event-ID` (an open
status, one of another session, a final status the session has since left, garbage) gets the
normal stream, which sends the current state at once.
"""
from __future__ import annotations

import logging
import math
from datetime import datetime, timezone

import orjson
from aiohttp import web
from aiohttp_sse import EventSourceResponse, sse_response

from entrypoints.http import render
from entrypoints.http.docs import BEARER, docs, error_responses
from entrypoints.http.auth import caller
from entrypoints.http.keys import PRINCIPAL, SESSION_FEED, USE_CASES
from ports.use_cases.sessions.get_session import GetSessionQuery
from ports.use_cases.views import SessionView

log = logging.getLogger("payments.session_events")
RECHECK_SECONDS = 5.0
RETRY_SECONDS = 0.5  # after a re-read that failed
RECONNECT_MILLISECONDS = 5000  # the `retry:` of every event: how long an EventSource waits to reconnect


@docs(tags=["payments"], summary="Stream a payment session's status (server-sent events)", security=BEARER,
      description="Events `session` carry the PaymentSession; the stream ends once it is no longer open. The "
                  "token may also be given as the `access_token` query parameter (for EventSource). Every "
                  "event has `id: <session id>:<status>` and `retry: 5000`; a reconnect whose `Last-Event-ID` "
                  "is the id of the session's final status is answered 204, so an EventSource stops.",
      parameters=[{"in": "query", "name": "access_token", "required": False, "schema": {"type": "string"},
                   "description": "The bearer token, for clients that cannot send headers."},
                  {"in": "header", "name": "Last-Event-ID", "required": False, "schema": {"type": "string"},
                   "description": "The id of the last event received (sent by an EventSource when it "
                                  "reconnects)."}],
      responses={"204": {"description": "The `Last-Event-ID` is the session's final status: nothing more "
                                        "will come (an EventSource stops reconnecting)."},
                 "200": {"description": "A text/event-stream of `session` events, whose `data` is the "
                                        "PaymentSession as JSON.",
                         "content": {"text/event-stream": {"schema": {
                             "type": "object", "required": ["event", "data"],
                             "properties": {"event": {"type": "string", "enum": ["session"]},
                                            "data": {"type": "string",
                                                     "description": "A PaymentSession object as JSON."},
                                            "id": {"type": "string"}, "retry": {"type": "integer"}}}}}},
                 **error_responses(401, 404)})
async def session_events(request: web.Request) -> web.StreamResponse:
    use_cases = request.app[USE_CASES]
    query = GetSessionQuery(caller(request), request.match_info["session_id"])
    view = await use_cases.get_session(query)  # 404 before the stream starts
    if view.status != "open" and request.headers.get("Last-Event-ID") == event_id(view):
        return web.Response(status=204, headers={"Cache-Control": "no-store"})  # the client saw the end
    async with request.app[SESSION_FEED].subscribe(view.id) as changes:
        async with sse_response(request, headers={"Cache-Control": "no-store"}) as stream:
            await send(stream, view)
            sent = view.status
            token_expires = request[PRINCIPAL].expires_at
            next_read = RECHECK_SECONDS
            while sent == "open" and stream.is_connected():
                now = datetime.now(timezone.utc)
                until_token_expiry = math.inf if token_expires is None else token_expires - now.timestamp()
                if until_token_expiry <= 0:
                    break  # a stream never outlives its token: the client reconnects with a new one
                until_expiry = (view.expires_at - now).total_seconds()
                await changes.wait(max(0.05, min(next_read, until_expiry + 0.05, until_token_expiry)))
                try:
                    view = await use_cases.get_session(query)
                except Exception:  # a read that met a dropped database connection: the stream stays
                    log.warning("could not re-read session %s for its event stream; reading again soon",
                                view.id, exc_info=True)
                    next_read = RETRY_SECONDS  # what woke it may be missed: read again soon
                    continue
                next_read = RECHECK_SECONDS
                if view.status != sent:
                    await send(stream, view)
                    sent = view.status
    return stream


def event_id(view: SessionView) -> str:
    """The id of the event that carries `view`: it names the session and its status."""
    return f"{view.id}:{view.status}"


async def send(stream: EventSourceResponse, view: SessionView) -> None:
    await stream.send(orjson.dumps(render.session(view)).decode(), id=event_id(view), event="session",
                      retry=RECONNECT_MILLISECONDS)
