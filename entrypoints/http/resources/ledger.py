"""Handler of `GET /receives/ledger`: the caller's receives ledger, newest first, by page or
after a cursor, each line with the balance right after it."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http.auth import caller
from entrypoints.http.docs import BEARER, PAYMENTS_TAG, docs, error_responses, querystring_schema, response_schema
from entrypoints.http.keys import QUERY, USE_CASES
from entrypoints.http.render import timestamp
from entrypoints.http.resources.transactions import listing
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import LedgerListSchema, LedgerQuerySchema
from ports.use_cases.plans.receives_ledger import ReceivesLedgerQuery
from ports.use_cases.views import LedgerLineView


@docs(tags=PAYMENTS_TAG, summary="Receives ledger", security=BEARER, operationId="getReceivesLedger",
      description="Every change of the receives balance, newest first, with the balance right after it; "
                  "the deltas add up to the balance. By page (page, limit) or after a cursor "
                  "(starting_after, limit). No membership yet: an empty list.",
      responses=error_responses(401, 422))
@querystring_schema(LedgerQuerySchema)
@response_schema(LedgerListSchema, 200)
async def receives_ledger(request: web.Request) -> web.Response:
    query = request[QUERY]
    listed = await request.app[USE_CASES].receives_ledger(ReceivesLedgerQuery(
        caller(request), query["page"], query["limit"], query["starting_after"]))
    return json_response(listing(listed, ledger_line))


def ledger_line(line: LedgerLineView) -> dict:
    return {"id": line.id, "kind": line.kind, "delta": line.delta, "balance_after": line.balance_after,
            "transaction_id": line.transaction_id, "reference": line.reference,
            "created_at": timestamp(line.created_at)}
