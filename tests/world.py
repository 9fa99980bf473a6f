"""A whole application core for the use-case tests, built by the service's own composition root
(`entrypoints.container`, in-memory adapters, the real mock provider plugin), with a fixed clock
and provider retries that never wait. Nothing here re-wires a use case: what the tests drive is
what the service runs."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import attrs
from dependency_injector import providers

from adapters.clock import FixedClock
from entrypoints.config import load_config
from entrypoints.container import active_adapters, build_container
from ports.use_cases.notifications.handle_notification import HandleNotificationCommand, NotificationResult
from ports.use_cases.plans.get_membership import GetMembershipQuery
from ports.use_cases.sessions.provider_orders import RetryPolicy
from ports.use_cases.views import MembershipView

START = datetime(2026, 1, 31, 10, 0, tzinfo=timezone.utc)
MOCK_SECRET = "use-case-test-secret"
PUBLIC_URL = "http://payments.test"
USE_CASES = ("purchase_receives", "change_plan", "open_session", "cancel_transaction", "get_session",
             "get_transaction", "list_transactions", "get_membership", "get_pricing", "list_payment_methods",
             "consume_receives", "submit_refund", "handle_notification", "expire_sessions", "retry_refunds",
             "reconcile_payments", "quote_refund", "request_refund", "cancel_refund", "get_refund", "list_refunds",
             "review_refunds", "issue_refund", "list_all_refunds", "list_audit_log")


async def _no_wait(seconds: float) -> None:
    """Provider retries in tests: the order of attempts is tested, never the waiting."""


class World:
    """Use cases over one in-memory store. `routes` maps methods to providers (all to the mock
    by default); `settings` overrides `UseCaseSettings` fields."""

    def __init__(self, now: datetime = START, routes: dict[str, str] | None = None, **settings) -> None:
        environ = {"PAYMENTS_PUBLIC_URL": PUBLIC_URL, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET}
        if routes is not None:
            environ["PAYMENTS_METHOD_ROUTES"] = ",".join(f"{m}={p}" for m, p in routes.items())
        self.container = container = build_container(load_config(environ), in_memory=True)
        self.clock = FixedClock(now)
        adapters = active_adapters(container)
        adapters.clock.override(providers.Object(self.clock))  # business time
        adapters.real_clock.override(providers.Object(self.clock))  # the mock's signatures, idempotency keys
        if settings:
            base = container.settings()
            container.settings.override(providers.Object(attrs.evolve(base, **settings)))
        container.use_cases.retry.override(providers.Object(RetryPolicy(sleep=_no_wait)))
        self.settings = container.settings()
        self.store = adapters.database()
        self.uow = adapters.uow()
        self.queries = adapters.queries()
        self.ids = adapters.ids()
        self.registry = adapters.registry()
        self.mock = adapters.payment_providers()["mock"]
        self.orders = container.use_cases.orders()
        for name in USE_CASES:
            setattr(self, name, getattr(container.use_cases, name)())

    async def pay(self, session, succeeded: bool = True) -> NotificationResult:
        """The payer pays (or declines) `session` on the mock's page; its notification arrives."""
        headers, body = self.mock.settle(session.order_id, succeeded)
        return await self.notify(headers, body)

    async def notify(self, headers, body: bytes) -> NotificationResult:
        return await self.handle_notification(HandleNotificationCommand("mock", headers, body))

    async def membership(self, user_id: str) -> MembershipView:
        return await self.get_membership(GetMembershipQuery(user_id))

    def advance(self, **delta) -> datetime:
        return self.clock.advance(timedelta(**delta))

