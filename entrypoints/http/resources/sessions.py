"""Handlers of `POST /sessions`, `GET /sessions/{id}`: payment sessions (the event stream is in
`session_events`). Each parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import caller
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    PAYMENTS_TAG,
    docs,
    error_responses,
    json_schema,
    post_errors,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    OpenSessionRequestSchema,
    PaymentSessionSchema,
)
from ports.use_cases.sessions.get_session import GetSessionQuery
from ports.use_cases.sessions.open_session import OpenSessionCommand


@docs(tags=PAYMENTS_TAG, summary="Open a new payment session for a pending transaction", security=BEARER,
      description="Cancels the transaction's open sessions (closing their provider orders) and opens a new one "
                  "with its own order id, for `payment_method` (default: the transaction's) and `flow` "
                  "(default: that method's first flow, not the earlier session's).",
      parameters=[IDEMPOTENCY_KEY], responses=post_errors(404, 409, 502, 503, conflicts=["invalid_state"]))
@json_schema(OpenSessionRequestSchema)
@response_schema(PaymentSessionSchema, 201)
async def open_session(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    session = await request.app[USE_CASES].open_session(OpenSessionCommand(
        caller(request), body["transaction_id"], body["payment_method"], body["return_url"], body["flow"],
        save_method=body["save_method"]))
    return json_response(render.session(session), status=201)


@docs(tags=PAYMENTS_TAG, summary="A payment session and its current status", security=BEARER,
      description="Cheap: frontends poll it while the payer scans.", responses=error_responses(401, 404))
@response_schema(PaymentSessionSchema, 200)
async def get_session(request: web.Request) -> web.Response:
    query = GetSessionQuery(caller(request), request.match_info["session_id"])
    session = await request.app[USE_CASES].get_session(query)
    return json_response(render.session(session))
