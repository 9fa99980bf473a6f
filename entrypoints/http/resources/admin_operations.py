"""Handlers of the operators' endpoints (role `admin`): a user's overview, every user's
transactions, the analytics (revenue, success rates, subscriptions) and the providers' health.
Each checks the role, parses (the schemas did it), calls a use case and renders."""
from __future__ import annotations

import inspect
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from aiohttp import web

from domain.transaction import TransactionStatus, TransactionType
from entrypoints.http import render
from entrypoints.http.admin_schemas import (
    AdminTransactionListQuerySchema,
    AdminTransactionPageSchema,
    AdminUserSchema,
    ProvidersSchema,
    RevenueQuerySchema,
    RevenueSchema,
    SubscriptionsSchema,
    SuccessRatesQuerySchema,
    SuccessRatesSchema,
)
from entrypoints.http.auth import require_role
from entrypoints.http.docs import (
    BEARER,
    docs,
    error_responses,
    querystring_schema,
    response_schema,
)
from entrypoints.http.keys import CONTAINER, METRICS, PRINCIPAL, QUERY
from entrypoints.http.ops_gauges import OperationsGauges
from entrypoints.http.render import timestamp
from entrypoints.http.resources.risk_admin import render_flag
from entrypoints.http.resources.saved_methods import render_saved_method
from entrypoints.http.responses import json_response
from ports.operations import AdminTransactionQuery, Interval, OutcomeGroup, RevenueGroup
from ports.use_cases.operations.analytics import RevenueCommand
from ports.use_cases.refunds.refund_views import RefundView

ADMIN = "/api/v1/admin"
OPERATIONS_TAG = ["operations"]
USE_CASE_NAMES = ("get_user_overview", "list_all_transactions", "revenue", "success_rates", "subscriptions",
                  "provider_statuses", "read_health_figures")
OPERATIONS: web.AppKey[Any] = web.AppKey("operations_use_cases", object)


def _admin(request: web.Request) -> None:
    require_role(request[PRINCIPAL], "admin")


def _refund(r: RefundView) -> dict:
    return {"id": r.id, "transaction_id": r.transaction_id, "order_id": r.order_id, "kind": r.kind,
            "status": r.status, "amount": r.amount.amount, "currency": r.amount.currency.code,
            "receives": r.receives, "ends_plan": r.ends_plan, "reason": r.reason, "requested_by": r.requested_by,
            "reviewed_by": r.reviewed_by, "review_note": r.review_note, "failure_reason": r.failure_reason,
            "created_at": timestamp(r.created_at), "reviewed_at": timestamp(r.reviewed_at),
            "completed_at": timestamp(r.completed_at), "user_id": r.user_id, "provider": r.provider}


@docs(tags=OPERATIONS_TAG, summary="One user: membership, latest transactions, refunds", security=BEARER,
      operationId="getAdminUser",
      description="Read as of now; nothing is created for a user never seen (a new basic membership is shown). "
                  "saved_methods are the user's saved payment methods (not deleted); risk_flags are the user's newest 100, "
                  "as GET /api/v1/admin/risk/flags lists them.",
      responses=error_responses(401, 403))
@response_schema(AdminUserSchema, 200)
async def user_overview(request: web.Request) -> web.Response:
    _admin(request)
    user_id = request.match_info["user_id"]
    overview = await request.app[OPERATIONS].get_user_overview(user_id)
    return json_response({
        "user_id": overview.user_id, "membership": render.membership(overview.membership),
        "transactions": [render.transaction(t) for t in overview.transactions],
        "refunds": [_refund(r) for r in overview.refunds],
        "saved_methods": [render_saved_method(m) for m in overview.saved_methods], "risk_flags": [render_flag(f) for f in overview.risk_flags]})


@docs(tags=OPERATIONS_TAG, summary="Every user's transactions", security=BEARER, operationId="listAdminTransactions",
      description="Newest first; the user history's filters plus user_id, provider and payment_method.",
      responses=error_responses(401, 403, 422))
@querystring_schema(AdminTransactionListQuerySchema)
@response_schema(AdminTransactionPageSchema, 200)
async def list_transactions(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    page = await request.app[OPERATIONS].list_all_transactions(AdminTransactionQuery(
        user_id=q["user_id"], providers=tuple(q["provider"]), payment_methods=tuple(q["payment_method"]),
        types=tuple(TransactionType(x) for x in q["type"]), statuses=tuple(TransactionStatus(x) for x in q["status"]),
        date_from=q["date_from"], date_to=q["date_to"], page=q["page"], limit=q["limit"]))
    return json_response({"items": [render.transaction(t) for t in page.items], "page": page.page,
                          "limit": page.limit, "total": page.total, "has_more": page.has_more})


@docs(tags=OPERATIONS_TAG, summary="Revenue by period and group", security=BEARER, operationId="getRevenue",
      description="Gross: paid sales at their completed_at; refunded: succeeded refunds that are not automatic at "
                  "their completed_at; net = gross − refunded. Periods are calendar days, ISO weeks (Monday) or "
                  "months in tz; only periods and groups with a sale or a refund are listed.",
      responses=error_responses(401, 403, 422))
@querystring_schema(RevenueQuerySchema)
@response_schema(RevenueSchema, 200)
async def revenue(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    report = await request.app[OPERATIONS].revenue(RevenueCommand(
        q["date_from"], q["date_to"], Interval(q["interval"]), RevenueGroup(q["group_by"]), q["tz"]))
    return json_response({
        "currency": report.currency, "interval": report.interval.value, "tz": report.tz,
        "date_from": report.date_from.isoformat(), "date_to": report.date_to.isoformat(),
        "series": [{"period_start": row.period_start.isoformat(), "group": row.group, "gross": row.gross,
                    "refunded": row.refunded, "net": row.gross - row.refunded, "transactions": row.transactions}
                   for row in report.rows]})


@docs(tags=OPERATIONS_TAG, summary="Payment success rates", security=BEARER, operationId="getSuccessRates",
      description="Sessions that ended in the window, by provider or payment method; a refunded session was paid "
                  "and counts as completed.",
      responses=error_responses(401, 403, 422))
@querystring_schema(SuccessRatesQuerySchema)
@response_schema(SuccessRatesSchema, 200)
async def success_rates(request: web.Request) -> web.Response:
    _admin(request)
    q = request[QUERY]
    items = await request.app[OPERATIONS].success_rates(q["window"], OutcomeGroup(q["group_by"]))
    return json_response({"window": q["window"], "items": [
        {"provider": i.provider, "payment_method": i.payment_method, "sessions": i.sessions,
         "completed": i.completed, "failed": i.failed, "expired": i.expired, "cancelled": i.cancelled,
         "success_rate_bps": i.success_rate_bps, "median_seconds_to_pay": i.median_seconds_to_pay} for i in items]})


@docs(tags=OPERATIONS_TAG, summary="Subscriptions now", security=BEARER, operationId="getSubscriptions",
      description="Read at now: active memberships by plan (a past-due one counts in its plan too), "
                  "past_due, mrr (the monthly price of every paid plan active or past due), renewals paid and "
                  "failed in the last 30 days, churned_30d.", responses=error_responses(401, 403))
@response_schema(SubscriptionsSchema, 200)
async def subscriptions(request: web.Request) -> web.Response:
    _admin(request)
    report = await request.app[OPERATIONS].subscriptions()
    return json_response({"active": report.active, "past_due": report.past_due, "mrr": report.mrr,
                          "renewals_30d": {"succeeded": report.renewals_succeeded, "failed": report.renewals_failed},
                          "churned_30d": report.churned})


@docs(tags=OPERATIONS_TAG, summary="Payment providers' health", security=BEARER, operationId="listProviders",
      description="Circuit state as seen by the process that answers (circuits are per process).",
      responses=error_responses(401, 403))
@response_schema(ProvidersSchema, 200)
async def provider_statuses(request: web.Request) -> web.Response:
    _admin(request)
    items = await request.app[OPERATIONS].provider_statuses()
    return json_response({"items": [
        {"provider": p.provider, "methods": list(p.methods), "circuit": p.circuit,
         "consecutive_failures": p.consecutive_failures, "last_error_at": timestamp(p.last_error_at),
         "success_rate_bps_1h": p.success_rate_bps_1h} for p in items]})


def install(app: web.Application) -> None:
    """The routes, and at start-up (after the container's resources): the use cases, resolved
    once, and the circuits' gauge on the metrics."""
    app.cleanup_ctx.append(_resolve_use_cases)
    add_routes(app.router)


async def _resolve_use_cases(app: web.Application) -> AsyncIterator[None]:
    container = app[CONTAINER]
    resolved = {}
    for name in (*USE_CASE_NAMES, "circuits"):  # SQL adapters' providers answer with awaitables
        value = getattr(container.use_cases, name)()
        resolved[name] = await value if inspect.isawaitable(value) else value
    circuits = resolved.pop("circuits")
    app[OPERATIONS] = SimpleNamespace(**resolved)
    metrics = app[METRICS]
    metrics.watch_circuits(circuits)
    metrics.before_scrape(OperationsGauges(metrics.registry, resolved["read_health_figures"]).refresh)
    yield


def add_routes(router: web.UrlDispatcher) -> None:
    router.add_get(f"{ADMIN}/users/{{user_id}}", user_overview, allow_head=False)
    router.add_get(f"{ADMIN}/transactions", list_transactions, allow_head=False)
    router.add_get(f"{ADMIN}/analytics/revenue", revenue, allow_head=False)
    router.add_get(f"{ADMIN}/analytics/success-rates", success_rates, allow_head=False)
    router.add_get(f"{ADMIN}/analytics/subscriptions", subscriptions, allow_head=False)
    router.add_get(f"{ADMIN}/providers", provider_statuses, allow_head=False)
