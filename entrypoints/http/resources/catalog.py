"""Handlers of `GET /pricing`, `GET /methods`: what can be bought and how it can be paid. Each parses
(the schemas did it), calls a use case and renders. Their display names (plans, methods) are in
the request's language (`Accept-Language`); ids never change with it."""
from __future__ import annotations

from aiohttp import web

from entrypoints.http import render
from entrypoints.http.auth import caller
from entrypoints.http.docs import (
    BEARER,
    PAYMENTS_TAG,
    docs,
    error_responses,
    response_schema,
)
from entrypoints.http.keys import USE_CASES
from entrypoints.http.language import headers_for, language_of
from entrypoints.http.responses import json_response
from entrypoints.http.schemas import (
    PaymentMethodsSchema,
    PricingSchema,
)
from entrypoints.http.texts import method_name


@docs(tags=PAYMENTS_TAG, summary="The catalog: receive prices and plans", security=BEARER,
      operationId="getPricing", responses=error_responses(401),
      description="The caller's prices: while a price experiment runs, the catalog with the caller's variant in "
                  "place (showing it stores the caller's exposure to it, once); otherwise the catalog.")
@response_schema(PricingSchema, 200)
async def pricing(request: web.Request) -> web.Response:
    language = language_of(request)
    return json_response(render.pricing(await request.app[USE_CASES].get_pricing(caller(request)), language),
                         headers=headers_for(language))


@docs(tags=PAYMENTS_TAG, summary="Payment methods", security=BEARER, responses=error_responses(401))
@response_schema(PaymentMethodsSchema, 200)
async def list_methods(request: web.Request) -> web.Response:
    methods = await request.app[USE_CASES].list_payment_methods()
    language = language_of(request)
    return json_response({"methods": [
        {"id": m.id, "name": method_name(m.id, m.name, language), "available": m.available,
         "icon_url": m.icon_url, "flows": list(m.flows), "currencies": list(m.currencies), "status": m.status,
         "can_save": m.can_save}
        for m in methods]},
        headers=headers_for(language))
