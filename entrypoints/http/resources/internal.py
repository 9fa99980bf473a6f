"""Handlers of `POST /api/v1/internal/receives/consume` (role service): the main backend spends
receives. Each parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import require_role
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    docs,
    json_schema,
    post_errors,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, PRINCIPAL, USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    ConsumeRequestSchema,
    MembershipSchema,
)
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand


@docs(tags=["internal"], summary="Consume receives (role service)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Idempotent by `reference`: the same reference again consumes nothing more and answers "
                  "the current membership.",
      operationId="consumeReceives", responses=post_errors(403, 409, conflicts=["insufficient_receives"]))
@json_schema(ConsumeRequestSchema)
@response_schema(MembershipSchema, 200)
async def consume(request: web.Request) -> web.Response:
    require_role(request[PRINCIPAL], "service")
    body = request[JSON_BODY]
    view = await request.app[USE_CASES].consume_receives(ConsumeReceivesCommand(
        body["user_id"], body["count"], body["reference"]))
    return json_response(render.membership(view))
