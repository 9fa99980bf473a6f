"""Handlers of `GET /pricing`, `GET /methods`: what can be bought and how it can be paid. Each parses
(the schemas did it), calls a use case and renders."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.docs import (
    BEARER,
    PAYMENTS_TAG,
    docs,
    error_responses,
    response_schema,
)
from entrypoints.http.keys import USE_CASES
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    PaymentMethodsSchema,
    PricingSchema,
)


@docs(tags=PAYMENTS_TAG, summary="The catalog: receive prices and plans", security=BEARER,
      responses=error_responses(401))
@response_schema(PricingSchema, 200)
async def pricing(request: web.Request) -> web.Response:
    return json_response(render.pricing(await request.app[USE_CASES].get_pricing()))


@docs(tags=PAYMENTS_TAG, summary="Payment methods", security=BEARER, responses=error_responses(401))
@response_schema(PaymentMethodsSchema, 200)
async def list_methods(request: web.Request) -> web.Response:
    methods = await request.app[USE_CASES].list_payment_methods()
    return json_response({"methods": [
        {"id": m.id, "name": m.name, "available": m.available, "icon_url": m.icon_url,
         "flows": list(m.flows), "currencies": list(m.currencies)} for m in methods]})
