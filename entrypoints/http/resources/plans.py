"""Handlers of `POST /plan`, `GET /plan/quote`, `GET /membership`: change plan, price a change without
making it, and read the membership. Each parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import caller
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    PAYMENTS_TAG,
    PLAN_CHANGE_EXAMPLES,
    docs,
    error_response,
    error_responses,
    json_schema,
    post_errors,
    querystring_schema,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, QUERY, USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    ChangePlanRequestSchema,
    MembershipSchema,
    PlanChangeResponseSchema,
    PlanQuoteQuerySchema,
    PlanQuoteSchema,
)
from ports.use_cases.plans.change_plan import (
    ChangePlanCommand,
    DowngradeScheduled,
    UpgradeStarted,
)
from ports.use_cases.plans.get_membership import GetMembershipQuery
from ports.use_cases.plans.quote_plan_change import QuotePlanChangeQuery


@docs(tags=PAYMENTS_TAG, summary="Change plan", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Upgrade (201: transaction, session, proration), downgrade at the period end (200: "
                  "transaction, session null, effective_at), or re-choose the current plan to cancel a "
                  "scheduled change (200: membership). An upgrade's session is opened with `flow` (default: "
                  "the method's first); a change that needs no payment ignores `flow` but still refuses one "
                  "the method's provider does not offer, as the same request could need a payment. While the "
                  "membership's renewal is unpaid (`past_due`, or its saved method not charged yet) a change "
                  "other than re-choosing the current plan → 409 `invalid_state`: pay the renewal first.",
      request_examples={
          "upgrade": {"summary": "Upgrade to Pro (201)", "value": {
              "new_plan": "pro", "payment_method": "wechat_pay", "flow": "qr_code",
              "return_url": "http://localhost:3000/checkout/done"}},
          "downgrade": {"summary": "Back to Basic at the period end (200)", "value": {"new_plan": "basic"}}},
      response_examples=PLAN_CHANGE_EXAMPLES,
      responses={**post_errors(404, 409, 502, 503, conflicts=["plan_unchanged", "too_many_pending",
                                                                   "invalid_state"]),
                 "200": {"schema": PlanChangeResponseSchema,
                         "description": "A downgrade was scheduled, or a scheduled change was cancelled."}})
@json_schema(ChangePlanRequestSchema)
@response_schema(PlanChangeResponseSchema, 201, description="An upgrade: pay it through the session.")
async def change_plan(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    result = await request.app[USE_CASES].change_plan(ChangePlanCommand(
        caller(request), body["new_plan"], body["payment_method"], body["return_url"], body["flow"],
        save_method=body["save_method"], saved_method_id=body["saved_method_id"]))
    if isinstance(result, UpgradeStarted):
        return json_response({"transaction": render.transaction(result.transaction),
                              "session": render.session(result.session) if result.session else None,
                              "proration": render.proration(result.proration)}, status=201)
    if isinstance(result, DowngradeScheduled):
        return json_response({"transaction": render.transaction(result.transaction), "session": None,
                              "effective_at": render.timestamp(result.effective_at)})
    return json_response({"membership": render.membership(result.membership)})


@docs(tags=PAYMENTS_TAG, summary="Quote a plan change", security=BEARER, operationId="quotePlanChange",
      description="What `POST /plan` with this `new_plan` would do now, against the active plan (an unpaid "
                  "upgrade does not change it): `upgrade` with the proration it would charge, `downgrade` "
                  "with the period end it would take effect at, or `unchanged` (the current plan, whether or "
                  "not a change is scheduled) with neither. Nothing is stored; a pending plan change stays "
                  "pending. While the membership's renewal is unpaid no change can be made: 409 `invalid_state`.",
      responses={"401": error_response(401), "409": error_response(409, ["invalid_state"]),
                 "422": error_response(422, ["validation_error"])})
@querystring_schema(PlanQuoteQuerySchema)
@response_schema(PlanQuoteSchema, 200, description="What the change would be.")
async def quote_plan_change(request: web.Request) -> web.Response:
    quote = await request.app[USE_CASES].quote_plan_change(QuotePlanChangeQuery(
        caller(request), request[QUERY]["new_plan"]))
    return json_response({"kind": quote.kind.value,
                          "proration": render.proration(quote.proration) if quote.proration else None,
                          "effective_at": render.timestamp(quote.effective_at), "currency": quote.currency.code})


@docs(tags=PAYMENTS_TAG, summary="The caller's membership and receives balance", security=BEARER,
      operationId="getMembership", responses=error_responses(401))
@response_schema(MembershipSchema, 200)
async def membership(request: web.Request) -> web.Response:
    view = await request.app[USE_CASES].get_membership(GetMembershipQuery(caller(request)))
    return json_response(render.membership(view))
