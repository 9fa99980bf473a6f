"""Handlers of the payments API. Each one parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import require_role
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    docs,
    error_responses,
    json_schema,
    post_errors,
    querystring_schema,
    response_schema,
)
from entrypoints.http.responses import json_response
from entrypoints.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from entrypoints.http.keys import JSON_BODY, PRINCIPAL, QUERY, USE_CASES
from entrypoints.http.schemas import (
    CancelRequestSchema,
    ChangePlanRequestSchema,
    ConsumeRequestSchema,
    MembershipSchema,
    OpenSessionRequestSchema,
    PaymentMethodsSchema,
    PaymentResponseSchema,
    PaymentSessionSchema,
    PlanChangeResponseSchema,
    PricingSchema,
    PurchaseReceivesRequestSchema,
    TransactionDetailSchema,
    TransactionListQuerySchema,
    TransactionPageSchema,
    TransactionResponseSchema,
)
from ports.use_cases.cancel_transaction import CancelTransactionCommand
from ports.use_cases.change_plan import ChangePlanCommand, DowngradeScheduled, UpgradeStarted
from ports.use_cases.consume_receives import ConsumeReceivesCommand
from ports.use_cases.get_membership import GetMembershipQuery
from ports.use_cases.get_session import GetSessionQuery
from ports.use_cases.get_transaction import GetTransactionQuery
from ports.use_cases.list_transactions import ListTransactionsQuery
from ports.use_cases.open_session import OpenSessionCommand
from ports.use_cases.purchase_receives import PurchaseReceivesCommand

TAG = ["payments"]


def _user(request: web.Request) -> str:
    return request[PRINCIPAL].user_id


@docs(tags=TAG, summary="Buy receives", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Creates a pending transaction and its payment session. The balance grows when the "
                  "provider confirms the payment.",
      responses=post_errors(409, 502, 503))
@json_schema(PurchaseReceivesRequestSchema)
@response_schema(PaymentResponseSchema, 201, description="The transaction and its session.")
async def purchase_receives(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    result = await request.app[USE_CASES].purchase_receives(PurchaseReceivesCommand(
        _user(request), body["amount"], body["payment_method"], body["return_url"],
        request.headers.get(IDEMPOTENCY_HEADER)))
    return json_response({"transaction": render.transaction(result.transaction),
                          "session": render.session(result.session)}, status=201)


@docs(tags=TAG, summary="Change plan", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Upgrade (201: transaction, session, proration), downgrade at the period end (200: "
                  "transaction, session null, effective_at), or re-choose the current plan to cancel a "
                  "scheduled change (200: membership).",
      responses={**post_errors(409, 502, 503),
                 "200": {"schema": PlanChangeResponseSchema,
                         "description": "A downgrade was scheduled, or a scheduled change was cancelled."}})
@json_schema(ChangePlanRequestSchema)
@response_schema(PlanChangeResponseSchema, 201, description="An upgrade: pay it through the session.")
async def change_plan(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    result = await request.app[USE_CASES].change_plan(ChangePlanCommand(
        _user(request), body["new_plan"], body["payment_method"], body["return_url"]))
    if isinstance(result, UpgradeStarted):
        return json_response({"transaction": render.transaction(result.transaction),
                              "session": render.session(result.session) if result.session else None,
                              "proration": render.proration(result.proration)}, status=201)
    if isinstance(result, DowngradeScheduled):
        return json_response({"transaction": render.transaction(result.transaction), "session": None,
                              "effective_at": render.timestamp(result.effective_at)})
    return json_response({"membership": render.membership(result.membership)})


@docs(tags=TAG, summary="Transaction history", security=BEARER, description="Newest first.",
      responses=error_responses(401, 422))
@querystring_schema(TransactionListQuerySchema)
@response_schema(TransactionPageSchema, 200)
async def list_transactions(request: web.Request) -> web.Response:
    query = request[QUERY]
    page = await request.app[USE_CASES].list_transactions(ListTransactionsQuery(
        _user(request), tuple(query["type"]), tuple(query["status"]), query["date_from"], query["date_to"],
        query["page"], query["limit"]))
    return json_response(render.transaction_page(page))


@docs(tags=TAG, summary="One transaction with its sessions", security=BEARER,
      responses=error_responses(401, 404))
@response_schema(TransactionDetailSchema, 200)
async def get_transaction(request: web.Request) -> web.Response:
    detail = await request.app[USE_CASES].get_transaction(GetTransactionQuery(
        _user(request), request.match_info["transaction_id"]))
    return json_response({"transaction": render.transaction(detail.transaction),
                          "sessions": [render.session(s) for s in detail.sessions]})


@docs(tags=TAG, summary="Payment methods", security=BEARER, responses=error_responses(401))
@response_schema(PaymentMethodsSchema, 200)
async def list_methods(request: web.Request) -> web.Response:
    methods = await request.app[USE_CASES].list_payment_methods()
    return json_response({"methods": [
        {"id": m.id, "name": m.name, "available": m.available, "icon_url": m.icon_url,
         "flows": list(m.flows), "currencies": list(m.currencies)} for m in methods]})


@docs(tags=TAG, summary="Open a new payment session for a pending transaction", security=BEARER,
      parameters=[IDEMPOTENCY_KEY], responses=post_errors(404, 409, 502, 503))
@json_schema(OpenSessionRequestSchema)
@response_schema(PaymentSessionSchema, 201)
async def open_session(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    session = await request.app[USE_CASES].open_session(OpenSessionCommand(
        _user(request), body["transaction_id"], body["payment_method"], body["return_url"]))
    return json_response(render.session(session), status=201)


@docs(tags=TAG, summary="A payment session and its current status", security=BEARER,
      description="Cheap: frontends poll it while the payer scans.", responses=error_responses(401, 404))
@response_schema(PaymentSessionSchema, 200)
async def get_session(request: web.Request) -> web.Response:
    session = await request.app[USE_CASES].get_session(GetSessionQuery(_user(request), request.match_info["session_id"]))
    return json_response(render.session(session))


@docs(tags=TAG, summary="Cancel a pending transaction", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      responses=post_errors(404, 409))
@json_schema(CancelRequestSchema)
@response_schema(TransactionResponseSchema, 200)
async def cancel(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    transaction = await request.app[USE_CASES].cancel_transaction(CancelTransactionCommand(
        _user(request), body["transaction_id"], body["reason"]))
    return json_response({"transaction": render.transaction(transaction)})


@docs(tags=TAG, summary="The caller's membership and receives balance", security=BEARER,
      responses=error_responses(401))
@response_schema(MembershipSchema, 200)
async def membership(request: web.Request) -> web.Response:
    view = await request.app[USE_CASES].get_membership(GetMembershipQuery(_user(request)))
    return json_response(render.membership(view))


@docs(tags=TAG, summary="The catalog: receive prices and plans", security=BEARER, responses=error_responses(401))
@response_schema(PricingSchema, 200)
async def pricing(request: web.Request) -> web.Response:
    return json_response(render.pricing(await request.app[USE_CASES].get_pricing()))


@docs(tags=["internal"], summary="Consume receives (role service)", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Idempotent by `reference`: the same reference again consumes nothing more and answers "
                  "the current membership.",
      responses=post_errors(403, 409))
@json_schema(ConsumeRequestSchema)
@response_schema(MembershipSchema, 200)
async def consume(request: web.Request) -> web.Response:
    require_role(request[PRINCIPAL], "service")
    body = request[JSON_BODY]
    view = await request.app[USE_CASES].consume_receives(ConsumeReceivesCommand(
        body["user_id"], body["count"], body["reference"]))
    return json_response(render.membership(view))
