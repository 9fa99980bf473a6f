"""Handlers of `POST /receives` and `GET /receives/quote`: buy receives, and price a purchase without
making it. Each parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import caller
from entrypoints.http.docs import (
    BEARER,
    IDEMPOTENCY_KEY,
    PAYMENTS_TAG,
    docs,
    error_response,
    json_schema,
    post_errors,
    querystring_schema,
    response_schema,
)
from entrypoints.http.idempotency import HEADER as IDEMPOTENCY_HEADER
from entrypoints.http.keys import JSON_BODY, QUERY, USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    PaymentResponseSchema,
    PurchaseReceivesRequestSchema,
    ReceivesQuoteQuerySchema,
    ReceivesQuoteSchema,
)
from ports.use_cases.catalog.quote_receives import QuoteReceivesQuery
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand


@docs(tags=PAYMENTS_TAG, summary="Buy receives", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      description="Creates a pending transaction and its payment session, opened with `flow` (default: the "
                  "method's first flow in `GET /methods`). The balance grows when the provider confirms the "
                  "payment. With `saved_method_id` instead of `payment_method` (one-click) the saved method is "
                  "charged at once: 201 with `session` null (or the session opened for the payer when the "
                  "provider needs them); an unknown or someone else's saved method is 404.",
      responses=post_errors(404, 409, 502, 503, conflicts=["too_many_pending"]))
@json_schema(PurchaseReceivesRequestSchema)
@response_schema(PaymentResponseSchema, 201, description="The transaction and its session.")
async def purchase_receives(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    result = await request.app[USE_CASES].purchase_receives(PurchaseReceivesCommand(
        caller(request), body["amount"], body["payment_method"], body["return_url"],
        request.headers.get(IDEMPOTENCY_HEADER), body["flow"], save_method=body["save_method"],
        saved_method_id=body["saved_method_id"]))
    return json_response({"transaction": render.transaction(result.transaction),
                          "session": render.session(result.session) if result.session else None}, status=201)


@docs(tags=PAYMENTS_TAG, summary="Quote a purchase of receives", security=BEARER, operationId="quoteReceives",
      description="What `POST /receives` with this `amount` would charge now: the subtotal, the discount of "
                  "its tier and the total, at the caller's prices (a running price experiment's variant). "
                  "Nothing is created or stored.",
      responses={"401": error_response(401), "422": error_response(422, ["validation_error"])})
@querystring_schema(ReceivesQuoteQuerySchema)
@response_schema(ReceivesQuoteSchema, 200, description="The figures the purchase would have.")
async def quote_receives(request: web.Request) -> web.Response:
    quote = await request.app[USE_CASES].quote_receives(QuoteReceivesQuery(request[QUERY]["amount"],
                                                                                   caller(request)))
    return json_response({"amount": quote.quantity, "subtotal": quote.subtotal.amount,
                          "discount": quote.discount.amount, "total": quote.total.amount,
                          "currency": quote.total.currency.code})
