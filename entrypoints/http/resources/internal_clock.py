"""The test clock (development and tests only; `mount` adds nothing in production, where both
paths answer 404 and the OpenAPI document does not list them):

- `GET /api/v1/internal/clock` → `{"now": "…"}`: the service's business time (any valid token);
- `POST /api/v1/internal/clock` `{"advance_seconds": N}` (role `service`; 1 ≤ N; never backwards)
  → `{"now": "…"}`: moves business time N seconds ahead for every process and job of the
  service (within a second; this process at once); a move that would take it more than a century
  ahead of real time is a 409 `invalid_state` (a valid body, refused by where the clock is).
  docs/test-clock.md says what runs on it.
"""
from __future__ import annotations

import inspect

from aiohttp import web
from marshmallow import Schema, fields, validate

from entrypoints.http import errors
from entrypoints.http.auth import require_role
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    docs,
    error_responses,
    json_schema,
    post_errors,
    response_schema,
)
from entrypoints.http.keys import CONFIG, CONTAINER, JSON_BODY, PRINCIPAL
from entrypoints.http.render import timestamp
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import RequestSchema, StrictInteger
from ports.clock import MAX_CLOCK_OFFSET_SECONDS, AdjustableClock, Clock, ClockLimitError

PATH = "/api/v1/internal/clock"
TAGS = ["internal"]
NOW_EXAMPLE = "2026-12-05T08:00:00Z"


class AdvanceClockRequestSchema(RequestSchema):
    advance_seconds = StrictInteger(required=True, validate=validate.Range(1, MAX_CLOCK_OFFSET_SECONDS), metadata={
        "description": "How many seconds to move business time forward (a whole number, 1 at least; "
                       "the clock never goes back).",
        "example": 3600})


class ClockSchema(Schema):
    now = fields.String(required=True, metadata={"format": "date-time", "example": NOW_EXAMPLE,
                                                 "description": "The service's business time."})


def mount(app: web.Application) -> None:
    """The clock's routes, outside production only."""
    if app[CONFIG].is_production:
        return
    app.router.add_get(PATH, get_clock, allow_head=False)
    app.router.add_post(PATH, advance_clock)


async def business_clock(request: web.Request) -> Clock:
    """The clock the use cases and jobs read: the container's `clock`, an async resource started
    with the app (so its provider answers an awaitable)."""
    clock = request.app[CONTAINER].adapters.clock()
    return await clock if inspect.isawaitable(clock) else clock


@docs(tags=TAGS, summary="The test clock's business time (development and test only)", security=BEARER,
      operationId="getTestClock",
      description="The time the service's use cases and jobs run on: real time plus however far the test "
                  "clock was moved. Absent (404) in production.",
      responses=error_responses(401))
@response_schema(ClockSchema, 200)
async def get_clock(request: web.Request) -> web.Response:
    return json_response({"now": timestamp((await business_clock(request)).now())})


@docs(tags=TAGS, summary="Move the test clock forward (role service; development and test only)",
      security=BEARER, parameters=[IDEMPOTENCY_KEY], operationId="advanceTestClock",
      description="Moves business time `advance_seconds` ahead, for every process and background job of the "
                  "service within a second (this one at once): session expiry, the reconciler's schedule, "
                  "refund windows, renewals. Tokens' `exp`, signature freshness and idempotency keys stay on "
                  "real time. The clock never goes back, and runs at most 36525 days ahead of real time "
                  "(a move past that: 409 `invalid_state`, nothing moved). Absent (404) in production.",
      responses=post_errors(403, conflicts=["invalid_state"]))
@json_schema(AdvanceClockRequestSchema)
@response_schema(ClockSchema, 200)
async def advance_clock(request: web.Request) -> web.Response:
    require_role(request[PRINCIPAL], "service")
    clock = await business_clock(request)
    if not isinstance(clock, AdjustableClock):  # a set-up whose clock a test fixed: nothing to move
        raise errors.ApiError(404, "not_found", "This service's clock cannot be moved.")
    try:
        now = await clock.move_forward(request[JSON_BODY]["advance_seconds"])
    except ClockLimitError as error:  # the body is valid; where the clock already is forbids it
        raise errors.ApiError(409, "invalid_state", f"The clock is already as far ahead as it may go: business "
                              f"time runs at most {error.limit_seconds // 86400} days ahead of real time.") from None
    return json_response({"now": timestamp(now)})
