"""Handlers of the price experiment admin endpoints (role `admin`, docs/experiments.md): create an
experiment (a draft), start it, stop it, read its results. Each parses (the schemas did it), calls
a use case and renders."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from domain.catalog import DiscountTier
from domain.experiment import Experiment, ExperimentStatus, PriceVariant
from entrypoints.http.auth import require_role
from entrypoints.http.docs import BEARER, IDEMPOTENCY_KEY, docs, error_responses, json_schema, post_errors, response_schema
from entrypoints.http.experiment_schemas import (
    CREATE_EXAMPLE,
    CreateExperimentSchema,
    ExperimentResultsSchema,
    ExperimentSchema,
)
from entrypoints.http.keys import CONTAINER, JSON_BODY, PRINCIPAL, REQUEST_ID
from entrypoints.http.responses import json_response
from ports.use_cases.experiments.admin import CreateExperimentCommand, ExperimentResults

ADMIN = "/api/v1/admin"
TAG = ["experiments"]
USE_CASE_NAMES = ("create_experiment", "change_experiment_status", "experiment_results")
EXPERIMENTS: web.AppKey[Any] = web.AppKey("experiment_use_cases", object)
_DRAFT = {**CREATE_EXAMPLE, "status": "draft"}


def _admin(request: web.Request) -> str:
    require_role(request[PRINCIPAL], "admin")
    return request[PRINCIPAL].user_id


def _variant(body: dict) -> PriceVariant:
    receives = body.get("receives") or {}
    tiers = receives.get("tiers")
    return PriceVariant(
        id=body["id"], weight=body["weight"], unit_price=receives.get("unit_price"),
        tiers=None if tiers is None else tuple(DiscountTier(t["min_amount"], t["discount_percent"]) for t in tiers),
        plan_prices=tuple((body.get("plans") or {}).items()))


def render_variant(variant: PriceVariant) -> dict:
    """A variant as it was given: only what it overrides."""
    found: dict[str, Any] = {"id": variant.id, "weight": variant.weight}
    receives: dict[str, Any] = {}
    if variant.unit_price is not None:
        receives["unit_price"] = variant.unit_price
    if variant.tiers is not None:
        receives["tiers"] = [{"min_amount": t.min_quantity, "discount_percent": t.discount_percent}
                             for t in variant.tiers]
    if receives:
        found["receives"] = receives
    if variant.plan_prices:
        found["plans"] = dict(variant.plan_prices)
    return found


def render_experiment(experiment: Experiment) -> dict:
    return {"id": experiment.id, "status": experiment.status.value,
            "variants": [render_variant(v) for v in experiment.variants]}


def render_results(found: ExperimentResults) -> dict:
    return {"id": found.experiment.id, "status": found.experiment.status.value, "variants": [
        {"id": r.variant_id, "exposed": r.exposed, "paying": r.paying, "conversion_bps": r.conversion_bps,
         "gross": r.gross, "revenue_per_exposed": r.revenue_per_exposed, "p_value": r.p_value}
        for r in found.variants]}


@docs(tags=TAG, summary="Create a price experiment", security=BEARER, operationId="createPriceExperiment",
      parameters=[IDEMPOTENCY_KEY],
      description="A draft experiment with weighted variants, each overriding the receive unit price and tiers "
                  "and plan prices (what a variant does not name stays the catalog's). Users are assigned by a "
                  "hash of the experiment id and their id, by weight, once it runs. An id in use answers 409 "
                  "invalid_state (experiments are never changed). Audited.",
      request_examples={"two variants": {"summary": "A control and a cheaper variant", "value": CREATE_EXAMPLE}},
      response_examples={"201": {"draft": {"summary": "The draft", "value": _DRAFT}}},
      responses={**post_errors(403, conflicts=["invalid_state"])})
@json_schema(CreateExperimentSchema)
@response_schema(ExperimentSchema, 201)
async def create_experiment(request: web.Request) -> web.Response:
    admin = _admin(request)
    body = request[JSON_BODY]
    experiment = await request.app[EXPERIMENTS].create_experiment(CreateExperimentCommand(
        body["id"], tuple(_variant(v) for v in body["variants"]), admin, request.get(REQUEST_ID)))
    return json_response(render_experiment(experiment), status=201)


async def _change(request: web.Request, target: ExperimentStatus) -> web.Response:
    admin = _admin(request)
    experiment = await request.app[EXPERIMENTS].change_experiment_status(
        request.match_info["experiment_id"], target, admin=admin, request_id=request.get(REQUEST_ID))
    return json_response(render_experiment(experiment))


@docs(tags=TAG, summary="Start a price experiment", security=BEARER, operationId="startPriceExperiment",
      parameters=[IDEMPOTENCY_KEY],
      description="draft → running: from now on every user's prices (GET /pricing, quotes, purchases, plan "
                  "changes) are their variant's. Takes no body. 409 invalid_state while another experiment runs, "
                  "or when it is not a draft (a stopped experiment never runs again). Audited.",
      response_examples={"200": {"running": {"summary": "Running", "value": {**_DRAFT, "status": "running"}}}},
      responses=error_responses(401, 403, 404, 409, conflicts=["invalid_state", "idempotency_request_in_progress"]))
@response_schema(ExperimentSchema, 200)
async def start_experiment(request: web.Request) -> web.Response:
    return await _change(request, ExperimentStatus.RUNNING)


@docs(tags=TAG, summary="Stop a price experiment", security=BEARER, operationId="stopPriceExperiment",
      parameters=[IDEMPOTENCY_KEY],
      description="running → stopped, for good: everyone sees the catalog's prices again; transactions keep the "
                  "prices and the variant they were made with, and assignments are kept for the results. Takes no "
                  "body. 409 invalid_state unless it runs. Audited.",
      response_examples={"200": {"stopped": {"summary": "Stopped", "value": {**_DRAFT, "status": "stopped"}}}},
      responses=error_responses(401, 403, 404, 409, conflicts=["invalid_state", "idempotency_request_in_progress"]))
@response_schema(ExperimentSchema, 200)
async def stop_experiment(request: web.Request) -> web.Response:
    return await _change(request, ExperimentStatus.STOPPED)


@docs(tags=TAG, summary="Results of a price experiment", security=BEARER, operationId="getPriceExperimentResults",
      description="Per variant: exposed users, paying users (a paid transaction priced by the variant since their "
                  "exposure), conversion in basis points, gross (fen), revenue per exposed user (whole fen, "
                  "half-up) and the p-value of a two-proportion z-test against the first variant.",
      response_examples={"200": {"results": {"summary": "Two variants", "value": {
          "id": "receives-2027q1", "status": "running", "variants": [
              {"id": "control", "exposed": 1000, "paying": 50, "conversion_bps": 500, "gross": 85000,
               "revenue_per_exposed": 85, "p_value": None},
              {"id": "cheaper", "exposed": 1000, "paying": 72, "conversion_bps": 720, "gross": 110160,
               "revenue_per_exposed": 110, "p_value": 0.0398}]}}}},
      responses=error_responses(401, 403, 404))
@response_schema(ExperimentResultsSchema, 200)
async def experiment_results(request: web.Request) -> web.Response:
    _admin(request)
    found = await request.app[EXPERIMENTS].experiment_results(request.match_info["experiment_id"])
    return json_response(render_results(found))


def install(app: web.Application) -> None:
    app.cleanup_ctx.append(_start)
    add_routes(app.router)


async def _start(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER]
    app[EXPERIMENTS] = SimpleNamespace(**{name: await _resolve(getattr(container.use_cases, name))
                                          for name in USE_CASE_NAMES})
    yield


async def _resolve(provider) -> Any:
    value = provider()
    return await value if inspect.isawaitable(value) else value


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_post(f"{ADMIN}/experiments", create_experiment)
    router.add_post(f"{ADMIN}/experiments/{{experiment_id}}/start", start_experiment)
    router.add_post(f"{ADMIN}/experiments/{{experiment_id}}/stop", stop_experiment)
    router.add_get(f"{ADMIN}/experiments/{{experiment_id}}/results", experiment_results, allow_head=False)
