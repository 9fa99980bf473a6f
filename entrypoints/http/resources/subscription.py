"""Handler of `POST /api/v1/payments/subscription` (docs/renewals.md): auto-renewal on or off, with
an optional saved method. Parses (the schema did it), calls the use case and renders the Membership."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import caller
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    PAYMENTS_TAG,
    RESPONSE_EXAMPLES,
    docs,
    json_schema,
    post_errors,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import MembershipSchema
from entrypoints.http.subscription_schemas import SubscriptionRequestSchema
from ports.use_cases.renewals.set_subscription import SetSubscriptionCommand

PATH = "/api/v1/payments/subscription"

_RENEWING = {**RESPONSE_EXAMPLES["Membership"], "auto_renew": True,
             "renewal_method_id": "spm_3f1c9a0d2b7e4c51a8f6e0d9", "next_renewal_at": "2026-12-12T00:00:00Z"}


@docs(tags=PAYMENTS_TAG, summary="Turn auto-renewal on or off", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="setSubscription",
      description="On a paid plan: with `auto_renew` true the plan is renewed at each period end for its full "
                  "price, charged off-session to `saved_method_id` (default: the user's default saved method), "
                  "or, with no saved method, opened `PAYMENTS_RENEWAL_NOTICE_DAYS` before the end as a pending "
                  "`plan_renewal` transaction to pay through `POST /sessions`. Unpaid at the period end, the "
                  "membership is `past_due` until `grace_until` (its plan kept), then basic. With `auto_renew` "
                  "false the plan lapses to basic at its period end. On basic → 409 `invalid_state`; an "
                  "unknown, deleted or someone else's saved method → 404.",
      request_examples={
          "on": {"summary": "Renew with the default saved method (or by reminder)", "value": {"auto_renew": True}},
          "off": {"summary": "Let the plan lapse at the period end", "value": {"auto_renew": False}}},
      response_examples={"200": {"renewing": {"summary": "Auto-renewal on", "value": _RENEWING}}},
      responses=post_errors(404, conflicts=["invalid_state"]))
@json_schema(SubscriptionRequestSchema)
@response_schema(MembershipSchema, 200, description="The membership with its auto-renewal settings.")
async def set_subscription(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    view = await request.app[USE_CASES].set_subscription(SetSubscriptionCommand(
        caller(request), body["auto_renew"], body["saved_method_id"]))
    return json_response(render.membership(view))


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(PATH, set_subscription)
