"""Handlers of the caller's saved payment methods (docs/saved-methods.md):
`GET /api/v1/payments/saved-methods`, `DELETE /api/v1/payments/saved-methods/{id}` (204, detached at
the provider too) and `POST /api/v1/payments/saved-methods/{id}/default`. Someone else's method
answers 404, as one that does not exist. Their use cases are resolved at start-up (`install`)."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from entrypoints.http.auth import caller
from entrypoints.http.docs import BEARER, IDEMPOTENCY_KEY, PAYMENTS_TAG, docs, error_responses, response_schema
from entrypoints.http.keys import CONTAINER
from entrypoints.http.render import timestamp
from entrypoints.http.responses import json_response
from entrypoints.http.saved_method_schemas import SAVED_METHOD_EXAMPLE, SavedMethodListSchema, SavedMethodSchema
from ports.use_cases.saved_methods.views import SavedMethodView

API = "/api/v1/payments"
USE_CASE_NAMES = ("list_saved_methods", "set_default_saved_method", "delete_saved_method")
SAVED_METHODS: web.AppKey[Any] = web.AppKey("saved_method_use_cases", object)


def render_saved_method(m: SavedMethodView) -> dict:
    return {"id": m.id, "payment_method": m.payment_method, "provider": m.provider, "label": m.label,
            "brand": m.brand, "last4": m.last4, "exp_month": m.exp_month, "exp_year": m.exp_year,
            "is_default": m.is_default, "created_at": timestamp(m.created_at)}


@docs(tags=PAYMENTS_TAG, summary="Your saved payment methods", security=BEARER, operationId="listSavedMethods",
      description="Methods kept at their provider by a payment made with `save_method`, newest first; the "
                  "default one has `is_default`. Pay with one by giving its id as `saved_method_id` to "
                  "`POST /receives` or `POST /plan` (one-click).",
      responses=error_responses(401),
      response_examples={"200": {"one card": {"summary": "One saved method", "value": {
          "items": [SAVED_METHOD_EXAMPLE]}}}})
@response_schema(SavedMethodListSchema, 200)
async def list_saved_methods(request: web.Request) -> web.Response:
    methods = await request.app[SAVED_METHODS].list_saved_methods(caller(request))
    return json_response({"items": [render_saved_method(m) for m in methods]})


@docs(tags=PAYMENTS_TAG, summary="Delete a saved payment method", security=BEARER, operationId="deleteSavedMethod",
      description="It is detached at its provider too and can no longer be charged; if it was the default, the "
                  "newest remaining method becomes it; if renewals charged it, they fall back to reminders.",
      responses={**error_responses(401, 404),
                 "204": {"description": "Deleted (no body)."}})
async def delete_saved_method(request: web.Request) -> web.Response:
    await request.app[SAVED_METHODS].delete_saved_method(caller(request), request.match_info["saved_method_id"])
    return web.Response(status=204)


@docs(tags=PAYMENTS_TAG, summary="Make a saved payment method the default", security=BEARER,
      operationId="setDefaultSavedMethod", parameters=[IDEMPOTENCY_KEY],
      description="The previous default stops being it, in the same step. Takes no body.",
      responses=error_responses(401, 404, 409, conflicts=["idempotency_request_in_progress"]))
@response_schema(SavedMethodSchema, 200)
async def set_default_saved_method(request: web.Request) -> web.Response:
    method = await request.app[SAVED_METHODS].set_default_saved_method(caller(request),
                                                                       request.match_info["saved_method_id"])
    return json_response(render_saved_method(method))


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_start)
    add_routes(app.router)


async def _start(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER]
    app[SAVED_METHODS] = SimpleNamespace(**{name: await _resolve(getattr(container.use_cases, name))
                                            for name in USE_CASE_NAMES})
    yield


async def _resolve(provider) -> Any:
    value = provider()
    return await value if inspect.isawaitable(value) else value


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{API}/saved-methods", list_saved_methods, allow_head=False)
    router.add_delete(f"{API}/saved-methods/{{saved_method_id}}", delete_saved_method)
    router.add_post(f"{API}/saved-methods/{{saved_method_id}}/default", set_default_saved_method)
