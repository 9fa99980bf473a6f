"""Handlers of `GET /transactions`, `GET /transactions/{id}`, `POST /cancel`: the caller's
transactions. Each parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

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
    querystring_schema,
    response_schema,
)
from entrypoints.http.keys import JSON_BODY, QUERY, USE_CASES
from entrypoints.http.resources.refunds import refund as render_refund
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    CancelRequestSchema,
    TransactionDetailSchema,
    TransactionListQuerySchema,
    TransactionListSchema,
    TransactionResponseSchema,
)
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from ports.use_cases.payments.get_transaction import GetTransactionQuery
from ports.use_cases.payments.list_transactions import ListTransactionsQuery
from ports.use_cases.views import CursorPage, Page


@docs(tags=PAYMENTS_TAG, summary="Transaction history", security=BEARER,
      description="Newest first; a pending transaction whose sessions have all lapsed reads expired. "
                  "By page (page, limit) or after a cursor (starting_after, limit).",
      responses=error_responses(401, 422))
@querystring_schema(TransactionListQuerySchema)
@response_schema(TransactionListSchema, 200)
async def list_transactions(request: web.Request) -> web.Response:
    query = request[QUERY]
    listed = await request.app[USE_CASES].list_transactions(ListTransactionsQuery(
        caller(request), tuple(query["type"]), tuple(query["status"]), query["date_from"], query["date_to"],
        query["page"], query["limit"], query["starting_after"]))
    return json_response(listing(listed, render.transaction))


def listing(listed: Page | CursorPage, item: Callable[[Any], dict]) -> dict:
    """A list answer: a numbered page as the contract's Pagination has it, or the items after a
    cursor as its cursor pagination has them (no page, limit or total)."""
    items = [item(x) for x in listed.items]
    if isinstance(listed, CursorPage):
        return {"items": items, "has_more": listed.has_more, "next_cursor": listed.next_cursor}
    return {"items": items, "page": listed.page, "limit": listed.limit, "total": listed.total,
            "has_more": listed.has_more}


@docs(tags=PAYMENTS_TAG, summary="One transaction with its sessions", security=BEARER,
      responses=error_responses(401, 404))
@response_schema(TransactionDetailSchema, 200)
async def get_transaction(request: web.Request) -> web.Response:
    use_cases, user_id = request.app[USE_CASES], caller(request)
    detail = await use_cases.get_transaction(GetTransactionQuery(user_id, request.match_info["transaction_id"]))
    refunds = await use_cases.transaction_refunds(user_id, detail.transaction.id)
    return json_response({"transaction": render.transaction(detail.transaction),
                          "sessions": [render.session(s) for s in detail.sessions],
                          "refunds": [render_refund(r) for r in refunds]})


@docs(tags=PAYMENTS_TAG, summary="Cancel a pending transaction", security=BEARER, parameters=[IDEMPOTENCY_KEY],
      operationId="cancelTransaction", responses=post_errors(404, 409, conflicts=["invalid_state"]))
@json_schema(CancelRequestSchema)
@response_schema(TransactionResponseSchema, 200)
async def cancel(request: web.Request) -> web.Response:
    body = request[JSON_BODY]
    transaction = await request.app[USE_CASES].cancel_transaction(CancelTransactionCommand(
        caller(request), body["transaction_id"], body["reason"]))
    return json_response({"transaction": render.transaction(transaction)})
