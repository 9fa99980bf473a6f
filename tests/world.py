"""A whole application core wired with the in-memory adapters, the real mock provider plugin and
a fixed clock: what the use-case tests drive."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from adapters.clock import FixedClock
from adapters.ids import RandomIdGenerator
from adapters.memory import InMemoryStore, in_memory_uow_factory
from domain.catalog import PAYMENT_METHODS
from plugins.mock import MockProvider
from ports.payment_provider import ProviderRegistry
from ports.use_cases.payments.cancel_transaction import CancelTransaction
from ports.use_cases.plans.change_plan import ChangePlan
from ports.use_cases.plans.consume_receives import ConsumeReceives
from ports.use_cases.sessions.expire_sessions import ExpireSessions
from ports.use_cases.plans.get_membership import GetMembership, GetMembershipQuery
from ports.use_cases.catalog.get_pricing import GetPricing
from ports.use_cases.sessions.get_session import GetSession
from ports.use_cases.payments.get_transaction import GetTransaction
from ports.use_cases.notifications.handle_notification import HandleNotification, HandleNotificationCommand, NotificationResult
from ports.use_cases.catalog.list_payment_methods import ListPaymentMethods
from ports.use_cases.payments.list_transactions import ListTransactions
from ports.use_cases.sessions.open_session import OpenSession
from ports.use_cases.sessions.provider_orders import ProviderOrders
from ports.use_cases.payments.purchase_receives import PurchaseReceives
from ports.use_cases.refunds.submit_refund import RetryRefunds, SubmitRefund
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView

START = datetime(2026, 1, 31, 10, 0, tzinfo=timezone.utc)
MOCK_SECRET = "use-case-test-secret"


class World:
    """Use cases over one in-memory store. `routes` maps methods to providers (all to the mock
    by default); `settings` overrides `UseCaseSettings` fields."""

    def __init__(self, now: datetime = START, routes: dict[str, str] | None = None, **settings) -> None:
        self.clock = FixedClock(now)
        self.store = InMemoryStore()
        self.uow = in_memory_uow_factory(self.store)
        self.ids = RandomIdGenerator()
        self.settings = UseCaseSettings(public_url="http://payments.test", **settings)
        self.mock = MockProvider(webhook_secret=MOCK_SECRET, public_url=self.settings.public_url, clock=self.clock)
        routes = {m: "mock" for m in PAYMENT_METHODS} if routes is None else routes
        self.registry = ProviderRegistry({"mock": self.mock}, routes, PAYMENT_METHODS)
        self.orders = ProviderOrders(self.uow, self.registry, self.clock, self.settings)
        common = dict(uow=self.uow, clock=self.clock)
        opening = dict(common, providers=self.registry, orders=self.orders, ids=self.ids, settings=self.settings)
        self.purchase_receives = PurchaseReceives(**opening)
        self.change_plan = ChangePlan(**opening)
        self.open_session = OpenSession(**opening)
        self.cancel_transaction = CancelTransaction(orders=self.orders, **common)
        self.get_session = GetSession(**common)
        self.get_transaction = GetTransaction(**common)
        self.list_transactions = ListTransactions(uow=self.uow)
        self.get_membership = GetMembership(settings=self.settings, **common)
        self.get_pricing = GetPricing(settings=self.settings)
        self.list_payment_methods = ListPaymentMethods(providers=self.registry)
        self.consume_receives = ConsumeReceives(settings=self.settings, **common)
        self.submit_refund = SubmitRefund(providers=self.registry, settings=self.settings, **common)
        self.handle_notification = HandleNotification(
            providers=self.registry, orders=self.orders, refunds=self.submit_refund, ids=self.ids,
            settings=self.settings, **common)
        self.expire_sessions = ExpireSessions(orders=self.orders, **common)
        self.retry_refunds = RetryRefunds(submit=self.submit_refund, **common)

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
