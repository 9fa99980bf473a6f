"""The aiohttp application factory.

    app = create_app(container)   # a built `entrypoints.container.Application`

The container is kept under an `AppKey`; its resources start and stop with the app. Use-case
objects are resolved once at start-up (they are stateless), so a request costs no wiring.
"""
from __future__ import annotations

import gc
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from aiohttp import web
from dependency_injector import providers

from entrypoints.background import BackgroundJobs
from entrypoints.event_delivery import PURGE_INTERVAL as EVENTS_PURGE_INTERVAL
from entrypoints.event_delivery import deliver_forever
from entrypoints.http import assets, cors, middlewares, operations, protocol_errors, provider_pages
from entrypoints.http import admin_console
from entrypoints.http import rate_limits
from entrypoints.http.resources import experiments_admin, risk_admin
from entrypoints.http.resources import subscription
from entrypoints.http.resources import saved_methods
from entrypoints.http.auth import TokenVerifier
from entrypoints.http.idempotency import RETENTION, IdempotencyGuard
from entrypoints.http.keys import (
    CONFIG,
    CONTAINER,
    IDEMPOTENCY,
    METRICS,
    PROVIDERS,
    READINESS,
    SESSION_FEED,
    TOKENS,
    USE_CASES,
)
from entrypoints.http.openapi import add_docs_routes
from entrypoints.http.resources import (
    admin_events,
    admin_operations,
    catalog,
    internal,
    internal_clock,
    ledger,
    plans,
    receives,
    refunds,
    session_events,
    sessions,
    transactions,
    webhooks,
)

if TYPE_CHECKING:
    from entrypoints.container import Application

log = logging.getLogger("payments.app")
MAX_BODY_BYTES = 256 * 1024
SWEEP_INTERVAL = timedelta(seconds=15)
RECONCILE_INTERVAL = timedelta(seconds=10)
REFUND_RETRY_INTERVAL = timedelta(seconds=60)
PURGE_INTERVAL = timedelta(hours=1)
USE_CASE_NAMES = ("purchase_receives", "change_plan", "open_session", "cancel_transaction", "get_session",
                  "get_transaction", "list_transactions", "get_membership", "get_pricing", "list_payment_methods",
                  "consume_receives", "handle_notification", "expire_sessions", "submit_refund",
                  "reconcile_payments", "retry_refunds", "quote_receives", "quote_plan_change",
                  "receives_ledger", "quote_refund", "request_refund", "cancel_refund", "get_refund", "list_refunds",
                  "review_refunds", "issue_refund", "list_all_refunds", "list_audit_log", "transaction_refunds")

EVENT_USE_CASE_NAMES = ("list_events", "redeliver_event")  # the outbox's admin endpoints
RENEWAL_USE_CASE_NAMES = ("set_subscription", "renew_memberships")  # auto-renewal (docs/renewals.md)
RENEWAL_INTERVAL = timedelta(seconds=10)


def create_app(container: Application, *, background_jobs: bool = True) -> web.Application:
    config = container.config()
    app = web.Application(
        middlewares=[middlewares.context, middlewares.authentication, rate_limits.middleware, middlewares.idempotency,
                     middlewares.validation],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONTAINER] = container
    app[CONFIG] = config
    app[METRICS] = container.metrics()
    app[TOKENS] = TokenVerifier(config.jwt_secret, max_ttl_seconds=config.jwt_max_ttl_seconds)
    rate_limits.install(app, config, app[METRICS].registry)  # docs/risk.md
    app.on_response_prepare.append(middlewares.add_request_id)
    protocol_errors.install(app)  # aiohttp's own 400s in the contract's shape too
    app.cleanup_ctx.append(_resources(container, background_jobs))
    _add_routes(app)
    _add_cors(app, config.cors_origins)
    return app


def _resources(container: Application, background_jobs: bool
               ) -> Callable[[web.Application], AsyncIterator[None]]:
    async def context(app: web.Application) -> AsyncIterator[None]:
        await container.init_resources()
        use_cases = SimpleNamespace(**{name: await _resolve(getattr(container.use_cases, name))
                                       for name in (*USE_CASE_NAMES, *EVENT_USE_CASE_NAMES,
                                                    *RENEWAL_USE_CASE_NAMES)})
        app[USE_CASES] = use_cases
        store = await _resolve(container.adapters.idempotency)
        clock = await _resolve(container.adapters.real_clock)  # idempotency keys age in real time
        business_clock = await _resolve(container.adapters.clock)
        app[READINESS] = await _resolve(container.adapters.readiness)
        app[IDEMPOTENCY] = IdempotencyGuard(store, clock)
        app[PROVIDERS] = await _resolve(container.adapters.registry)
        app[SESSION_FEED] = await _resolve(container.adapters.session_feed)
        # What start-up allocated lives as long as the process: keep the collector from scanning it
        # again and again (full collections of it were the poll's worst latencies).
        gc.collect()
        gc.freeze()
        jobs = BackgroundJobs()
        if hasattr(business_clock, "on_move"):  # the test clock moved: what fell due runs now
            business_clock.on_move(jobs.wake)
        if background_jobs:
            jobs.start(SWEEP_INTERVAL, use_cases.expire_sessions, "expire-sessions")
            jobs.start(RECONCILE_INTERVAL, use_cases.reconcile_payments, "reconcile-payments")
            jobs.start(REFUND_RETRY_INTERVAL, use_cases.retry_refunds, "retry-refunds")
            jobs.start(RENEWAL_INTERVAL, use_cases.renew_memberships, "renew-memberships")
            jobs.start(PURGE_INTERVAL, lambda: store.purge(clock.now() - RETENTION), "purge-idempotency-keys")
            # Even while events are off: those written before are purged in their time (docs/events.md).
            jobs.start(EVENTS_PURGE_INTERVAL, await _resolve(container.use_cases.purge_events), "purge-events")
        if background_jobs and app[CONFIG].events_url:  # events to the main backend (docs/events.md)
            wakeups = await _resolve(container.adapters.outbox_wakeups)
            deliver = await _resolve(container.use_cases.deliver_events)
            if hasattr(business_clock, "on_move"):  # retries brought forward by the test clock go now
                business_clock.on_move(wakeups.wake)
            jobs.run(lambda: deliver_forever(deliver, wakeups), "deliver-events")
        try:
            yield
        finally:
            await jobs.stop()
            await container.shutdown_resources()
    return context


async def _resolve(provider: providers.Provider) -> Any:
    """A provider's object; providers that depend on async resources answer with an awaitable."""
    value = provider()
    return await value if inspect.isawaitable(value) else value


def _add_routes(app: web.Application) -> None:
    api = "/api/v1/payments"
    router = app.router
    router.add_post(f"{api}/receives", receives.purchase_receives)
    router.add_get(f"{api}/receives/quote", receives.quote_receives, allow_head=False)
    router.add_get(f"{api}/receives/ledger", ledger.receives_ledger, allow_head=False)
    router.add_post(f"{api}/plan", plans.change_plan)
    router.add_get(f"{api}/plan/quote", plans.quote_plan_change, allow_head=False)
    router.add_get(f"{api}/transactions", transactions.list_transactions, allow_head=False)
    router.add_get(f"{api}/transactions/{{transaction_id}}", transactions.get_transaction, allow_head=False)
    router.add_get(f"{api}/methods", catalog.list_methods, allow_head=False)
    router.add_post(f"{api}/sessions", sessions.open_session)
    router.add_get(f"{api}/sessions/{{session_id}}", sessions.get_session, allow_head=False)
    router.add_get(f"{api}/sessions/{{session_id}}/events", session_events.session_events, allow_head=False)
    router.add_post(f"{api}/cancel", transactions.cancel)
    router.add_get(f"{api}/membership", plans.membership, allow_head=False)
    router.add_get(f"{api}/pricing", catalog.pricing, allow_head=False)
    router.add_post(webhooks.NOTIFY_PATH, webhooks.provider_notification)
    router.add_post("/api/v1/internal/receives/consume", internal.consume)
    admin_events.add_routes(router)
    internal_clock.mount(app)  # the test clock, outside production
    refunds.add_routes(router)
    subscription.add_routes(router)  # auto-renewal (docs/renewals.md)
    admin_operations.install(app)  # the operators' API (its use cases resolved at start-up)
    risk_admin.install(app)  # risk flags, blocks (docs/risk.md)
    saved_methods.install(app)  # saved payment methods (docs/saved-methods.md)
    experiments_admin.install(app)  # price experiments (docs/experiments.md)
    router.add_get("/healthz", operations.healthz, allow_head=False)
    router.add_get("/readyz", operations.readyz, allow_head=False)
    router.add_get("/metrics", operations.metrics, allow_head=False)
    add_docs_routes(app)
    assets.mount(app)  # the payment methods' icons (every environment)
    admin_console.mount(app)  # the operators' console at /admin/ (every environment; docs/admin-console.md)
    if not app[CONFIG].is_production:
        provider_pages.mount(app)  # the plugins' own pages (the mock's checkout page)


def _add_cors(app: web.Application, origins: tuple[str, ...]) -> None:
    cors.install(app, origins)  # preflights, and the headers on every API and error answer

