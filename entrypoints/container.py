"""The composition root: one dependency-injector container builds the adapters, the provider
plugins and the use cases from the checked configuration (`entrypoints.config.Config`).

    container = build_container(config)                  # SQL adapters (PostgreSQL or SQLite)
    container = build_container(config, in_memory=True)  # in-memory adapters (tests, demos)

`Adapters` and `InMemoryAdapters` (`entrypoints/memory_container.py`, imported only for
`in_memory=True`: a serving worker never loads the in-memory adapters) provide the same names;
`UseCases` only sees those names.
Async resources (the database, the HTTP client of the plugins) start with
`await container.init_resources()` and stop with `await container.shutdown_resources()`.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

from entrypoints.lean_imports import databases_without_click, dependency_injector_without_optional_extras

Database = databases_without_click()
containers, providers = dependency_injector_without_optional_extras()

import plugins
from adapters.clock import OffsetClock, SystemClock, running
from adapters.ids import RandomIdGenerator
from adapters.outbox_wakeups import InProcessWakeups
from adapters.session_feed import InProcessSessionFeed
from adapters.sql.analytics import SqlOperationsQueries
from adapters.sql.clock_offsets import SqlClockOffsets
from adapters.sql.database import create_database, url_dialect
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.instructions import SqlInstructions
from adapters.sql.outbox import SqlOutboxStore, outbox_hook
from adapters.sql.queries import SqlQueries
from adapters.sql.refund_queries import SqlRefundQueries
from adapters.sql.experiments import SqlExperimentStore
from adapters.sql.risk import SqlRiskStore
from adapters.sql.session_feed import in_transaction_hooks, postgres_session_feed
from adapters.sql.unit_of_work import sql_uow_factory
from adapters.webhook_sender import NoSender, StandardWebhookSender
from domain.catalog import PAYMENT_METHODS
from entrypoints.config import Config
from entrypoints.event_payloads import record_events, reports_any
from entrypoints.http.assets import icon_urls
from entrypoints.http.metrics import Metrics
from entrypoints.http_client import LazyHttpClient
from entrypoints.http.resources.webhooks import NOTIFY_PATH
from ports.circuit_breakers import CircuitBreakers
from ports.events import EventDispatcher
from ports.clock import Clock, ClockOffsets
from ports.payment_provider import PaymentProvider, ProviderRegistry
from ports.session_feed import session_changes
from ports.use_cases.payments.cancel_transaction import CancelTransaction
from ports.use_cases.plans.change_plan import ChangePlan
from ports.use_cases.plans.consume_receives import ConsumeReceives
from ports.use_cases.sessions.expire_sessions import ExpireSessions
from ports.use_cases.plans.get_membership import GetMembership
from ports.use_cases.catalog.get_pricing import GetPricing
from ports.use_cases.catalog.quote_receives import QuoteReceives
from ports.use_cases.events.admin_events import ListEvents, RedeliverEvent
from ports.use_cases.events.deliver_events import DeliverEvents
from ports.use_cases.events.purge_events import PurgeEvents
from ports.use_cases.plans.quote_plan_change import QuotePlanChange
from ports.use_cases.plans.receives_ledger import ReceivesLedger
from ports.use_cases.sessions.get_session import GetSession
from ports.use_cases.payments.get_transaction import GetTransaction
from ports.use_cases.notifications.handle_notification import HandleNotification
from ports.use_cases.catalog.list_payment_methods import ListPaymentMethods
from ports.use_cases.payments.list_transactions import ListTransactions
from ports.use_cases.sessions.open_session import OpenSession
from ports.use_cases.sessions.provider_orders import ProviderOrders, RetryPolicy
from ports.use_cases.payments.purchase_receives import PurchaseReceives
from ports.use_cases.notifications.reconcile_payments import ReconcilePayments
from ports.use_cases.refunds.request_refund import (
    CancelRefund,
    GetRefund,
    ListRefunds,
    QuoteRefund,
    RequestRefund,
    TransactionRefunds,
)
from ports.use_cases.refunds.review_refund import IssueRefund, ListAllRefunds, ListAuditLog, ReviewRefunds
from ports.use_cases.refunds.submit_refund import RetryRefunds, SubmitRefund
from ports.use_cases.operations.admin_users import GetUserOverview, ListAllTransactions
from ports.use_cases.operations.analytics import Revenue, Subscriptions, SuccessRates
from ports.use_cases.operations.providers import ProviderStatuses, ReadHealthFigures
from ports.use_cases.experiments.admin import ChangeExperimentStatus, CreateExperiment, GetExperimentResults
from ports.use_cases.experiments.user_prices import UserPrices
from ports.use_cases.risk.admin import ListRiskFlags, ResolveRiskFlag, SetUserBlocked
from ports.use_cases.saved_methods.charge_off_session import ChargeOffSession
from ports.use_cases.sessions.customers import ProviderCustomers
from ports.use_cases.saved_methods.manage_saved_methods import (
    DeleteSavedMethod,
    ListSavedMethods,
    SetDefaultSavedMethod,
)
from ports.use_cases.notifications.store_saved_method import StoreSavedMethods
from ports.use_cases.risk.gate import RiskGate
from ports.use_cases.risk.signals import LinkedPayers, RefundAbuse, payer_key
from ports.use_cases.renewals.forget_method import ForgetRenewalMethod
from ports.use_cases.renewals.renew_memberships import RenewMemberships
from ports.use_cases.renewals.saved_method_charges import SavedMethodRenewals
from ports.use_cases.renewals.set_subscription import SetSubscription
from ports.use_cases.settings import UseCaseSettings
from domain.risk import RiskLimits

async def database_resource(url: str) -> AsyncIterator[Database]:
    database = create_database(url)
    await database.connect()
    try:
        yield database
    finally:
        await database.disconnect()


async def http_client_resource() -> AsyncIterator[LazyHttpClient]:
    client = LazyHttpClient()
    try:
        yield client
    finally:
        await client.aclose()


async def session_feed_resource(url: str, metrics: Metrics) -> AsyncIterator[object]:
    """Across processes on PostgreSQL (its health exported as metrics); in-process on SQLite (one
    process writes it anyway)."""
    if url_dialect(url) == "postgresql":
        async for feed in postgres_session_feed(url):
            metrics.watch_session_feed(feed)
            yield feed
    else:
        yield InProcessSessionFeed()


async def business_clock_resource(config: Config, offsets: ClockOffsets, real: Clock) -> AsyncIterator[Clock]:
    """The clock of the use cases and jobs (docs/test-clock.md): in production the real clock itself;
    elsewhere real time plus the test clock's offset shared through `offsets`, refreshed in the
    background once a second. Plugins (signature freshness) and idempotency keys get `real_clock`."""
    if config.is_production:
        yield real
        return
    async with running(OffsetClock(offsets, real)) as clock:
        yield clock


def events_recorder(config: Config) -> Callable | None:
    """Events to the main backend are written only while PAYMENTS_EVENTS_URL is set (docs/events.md)."""
    return record_events if config.events_url else None


def risk_flag_events(config: Config) -> Callable | None:
    """`risk.flagged` for each new risk flag, written with it, while events are on (docs/risk.md)."""
    if not config.events_url:
        return None
    from domain.outbox import RISK_FLAGGED
    from entrypoints.event_payloads import event, risk_flag_data
    from entrypoints.http.resources.risk_admin import render_flag

    def flag_events(flag) -> list:
        return [event(RISK_FLAGGED, flag.user_id, flag.created_at, risk_flag_data(flag.user_id, render_flag(flag)))]
    return flag_events


def sql_in_transaction_hooks(url: str, recorder: Callable | None) -> tuple:
    """The session feed's NOTIFY (PostgreSQL) and, when events are on, the outbox's writes."""
    return (*in_transaction_hooks(url), *((outbox_hook(recorder),) if recorder is not None else ()))


def make_outbox_wakeups(config: Config) -> InProcessWakeups:
    """What wakes this process's dispatcher: LISTEN on PostgreSQL when events are on (a connection of
    its own, opened when the dispatcher first waits), else this process's own commits only (and
    the poll)."""
    if config.events_url and url_dialect(config.database_url) == "postgresql":
        from adapters.sql.outbox_listener import PostgresWakeups

        return PostgresWakeups(config.database_url)
    return InProcessWakeups()


async def event_sender_resource(config: Config, clock: Clock) -> AsyncIterator[object]:
    if not config.events_url or not config.events_secret:
        yield NoSender()
        return
    sender = StandardWebhookSender(config.events_url, config.events_secret, timeout=config.events_timeout_seconds,
                                   clock=clock)
    try:
        yield sender
    finally:
        await sender.aclose()


def wake_on_reported(wakeups: InProcessWakeups) -> Callable[[list], None]:
    """A post-commit subscriber: a commit that wrote events wakes this process's dispatcher."""
    def subscriber(events: list) -> None:
        if reports_any(events):
            wakeups.wake()
    return subscriber


def events_retention(config: Config) -> timedelta:
    """How long delivered and failed events are kept before the purge deletes them."""
    return timedelta(days=config.events_retention_days)


def delivery_lease(config: Config) -> timedelta:
    """How long a claimed event is held: three times the POST's timeout."""
    return timedelta(seconds=3 * config.events_timeout_seconds)


def database_readiness(database: Database) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        try:
            return await database.fetch_val("SELECT 1") == 1
        except Exception:  # any failure means "not ready"; the reason is in the database's logs
            return False
    return check


def database_and_feed_readiness(database: Database, session_feed: object) -> Callable[[], Awaitable[bool]]:
    """Ready when the database answers and the session feed listens (a feed reconnecting after a
    dropped connection is not: its event streams only poll meanwhile). In-process feeds always listen."""
    database_ready = database_readiness(database)

    async def check() -> bool:
        return getattr(session_feed, "listening", True) and await database_ready()
    return check


def always_ready() -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return True
    return check


def use_case_settings(config: Config) -> UseCaseSettings:
    return UseCaseSettings(notify_url_template=config.public_url + NOTIFY_PATH, max_pending=config.max_pending,
                           session_ttl=config.session_ttl, return_url_hosts=config.return_url_hosts,
                           refund_window=timedelta(days=config.refund_window_days),
                           refund_second_approval_above=config.refund_second_approval_above,
                           renewal=config.renewal)


def load_providers(config: Config, http: LazyHttpClient, clock: Clock) -> dict[str, PaymentProvider]:
    """The routed providers from their entry points. `discover` hands each plugin only its own
    `PAYMENTS_<NAME>_*` variables plus PAYMENTS_PUBLIC_URL, here the effective one (which
    `--host`/`--port` shape when the variable is not set): the mock builds its checkout URL from it."""
    settings = {**config.environ, "PAYMENTS_PUBLIC_URL": config.public_url}
    return plugins.discover(set(config.method_routes.values()), settings, http=http, clock=clock,
                            production=config.is_production)


class Adapters(containers.DeclarativeContainer):
    config = providers.Dependency(instance_of=Config)
    metrics = providers.Dependency(instance_of=Metrics)
    real_clock = providers.Singleton(SystemClock)
    ids = providers.Singleton(RandomIdGenerator, config.provided.id_secret)
    database = providers.Resource(database_resource, config.provided.database_url)
    clock_offsets = providers.Singleton(SqlClockOffsets, database)
    clock = providers.Resource(business_clock_resource, config, clock_offsets, real_clock)
    http = providers.Resource(http_client_resource)
    session_feed = providers.Resource(session_feed_resource, config.provided.database_url, metrics)
    outbox_wakeups = providers.Singleton(make_outbox_wakeups, config)
    event_recorder = providers.Callable(events_recorder, config)
    dispatcher = providers.Singleton(EventDispatcher, providers.List(
        metrics.provided.observe_events, providers.Callable(session_changes, session_feed),
        providers.Callable(wake_on_reported, outbox_wakeups)))
    uow = providers.Singleton(sql_uow_factory, database, dispatcher,
                              providers.Callable(sql_in_transaction_hooks, config.provided.database_url, event_recorder))
    outbox = providers.Singleton(SqlOutboxStore, database)
    event_sender = providers.Resource(event_sender_resource, config, real_clock)
    queries = providers.Singleton(SqlQueries, database)
    refund_queries = providers.Singleton(SqlRefundQueries, database)
    risk_store = providers.Singleton(SqlRiskStore, database, providers.Callable(risk_flag_events, config))
    experiments = providers.Singleton(SqlExperimentStore, database)
    operations = providers.Singleton(SqlOperationsQueries, database)
    instructions = providers.Singleton(SqlInstructions, database)
    idempotency = providers.Singleton(SqlIdempotencyStore, database)
    payment_providers = providers.Singleton(load_providers, config, http, real_clock)
    registry = providers.Singleton(ProviderRegistry, payment_providers, config.provided.method_routes,
                                   providers.Object(PAYMENT_METHODS))
    readiness = providers.Singleton(database_and_feed_readiness, database, session_feed)


class UseCases(containers.DeclarativeContainer):
    adapters = providers.DependenciesContainer()
    settings = providers.Dependency(instance_of=UseCaseSettings)

    retry = providers.Object(RetryPolicy())
    # Per process (ports/circuit_breakers.py): every loaded provider listed from the start, closed.
    circuits = providers.Singleton(CircuitBreakers, providers=adapters.registry.provided.providers)
    customers = providers.Singleton(ProviderCustomers, adapters.uow, adapters.clock)  # docs/saved-methods.md
    orders = providers.Singleton(ProviderOrders, adapters.uow, adapters.instructions, adapters.registry,
                                 adapters.clock, settings, retry, circuits, customers)
    # Risk (docs/risk.md): the gate before every payment, the signals, the admin's flags and blocks.
    risk_limits = providers.Singleton(RiskLimits, daily_amount=adapters.config.provided.risk_daily_limit)
    risk_gate = providers.Singleton(RiskGate, adapters.risk_store, adapters.ids, risk_limits)
    linked_payers = providers.Singleton(LinkedPayers, adapters.risk_store, adapters.ids,
                                        providers.Callable(payer_key, adapters.config.provided.id_secret), risk_limits)
    refund_abuse = providers.Singleton(RefundAbuse, adapters.risk_store, adapters.ids, adapters.clock, risk_limits)
    list_risk_flags = providers.Factory(ListRiskFlags, adapters.risk_store)
    resolve_risk_flag = providers.Factory(ResolveRiskFlag, adapters.risk_store, adapters.ids, adapters.clock)
    set_user_blocked = providers.Factory(SetUserBlocked, adapters.risk_store, adapters.ids, adapters.clock)
    _opening = dict(uow=adapters.uow, providers=adapters.registry, orders=orders, clock=adapters.clock,
                    ids=adapters.ids, settings=settings, risk=risk_gate)
    # Price experiments (docs/experiments.md): every quote and charge at the user's prices.
    user_prices = providers.Singleton(UserPrices, adapters.experiments, settings, adapters.clock)
    create_experiment = providers.Factory(CreateExperiment, adapters.experiments, adapters.ids, adapters.clock,
                                          settings)
    change_experiment_status = providers.Factory(ChangeExperimentStatus, adapters.experiments, adapters.ids,
                                                 adapters.clock)
    experiment_results = providers.Factory(GetExperimentResults, adapters.experiments)
    purchase_receives = providers.Factory(PurchaseReceives, **_opening, prices=user_prices)
    change_plan = providers.Factory(ChangePlan, **_opening, prices=user_prices)
    open_session = providers.Factory(OpenSession, **_opening)
    cancel_transaction = providers.Factory(CancelTransaction, uow=adapters.uow, orders=orders, clock=adapters.clock)
    get_session = providers.Factory(GetSession, queries=adapters.queries, clock=adapters.clock)
    get_transaction = providers.Factory(GetTransaction, queries=adapters.queries, clock=adapters.clock)
    list_transactions = providers.Factory(ListTransactions, queries=adapters.queries, clock=adapters.clock)
    receives_ledger = providers.Factory(ReceivesLedger, queries=adapters.queries, uow=adapters.uow,
                                        clock=adapters.clock, settings=settings)
    get_membership = providers.Factory(GetMembership, queries=adapters.queries, uow=adapters.uow,
                                       clock=adapters.clock, settings=settings)
    get_pricing = providers.Factory(GetPricing, settings=settings, prices=user_prices)
    quote_receives = providers.Factory(QuoteReceives, settings=settings, prices=user_prices)
    quote_plan_change = providers.Factory(QuotePlanChange, queries=adapters.queries, clock=adapters.clock,
                                          prices=user_prices,
                                          settings=settings)
    list_payment_methods = providers.Factory(ListPaymentMethods, providers=adapters.registry,
                                             icons=providers.Callable(icon_urls, adapters.config.provided.public_url),
                                             circuits=circuits)
    consume_receives = providers.Factory(ConsumeReceives, uow=adapters.uow, clock=adapters.clock, settings=settings)
    submit_refund = providers.Factory(SubmitRefund, uow=adapters.uow, queries=adapters.queries,
                                      providers=adapters.registry, clock=adapters.clock, settings=settings)
    handle_notification = providers.Factory(HandleNotification, uow=adapters.uow, providers=adapters.registry,
                                            orders=orders, refunds=submit_refund, clock=adapters.clock,
                                            ids=adapters.ids, settings=settings, payers=linked_payers)
    # Saved methods (docs/saved-methods.md): stored after a payment that saves, one-click charges.
    store_saved_methods = providers.Singleton(StoreSavedMethods, adapters.uow, adapters.registry, adapters.clock,
                                              adapters.ids, settings)
    handle_notification.add_kwargs(saver=store_saved_methods)
    charge_off_session = providers.Factory(ChargeOffSession, uow=adapters.uow, providers=adapters.registry,
                                           orders=orders, instructions=adapters.instructions,
                                           notifications=handle_notification, customers=customers,
                                           clock=adapters.clock, ids=adapters.ids, settings=settings)
    purchase_receives.add_kwargs(charges=charge_off_session)
    change_plan.add_kwargs(charges=charge_off_session)
    list_saved_methods = providers.Factory(ListSavedMethods, uow=adapters.uow)
    set_default_saved_method = providers.Factory(SetDefaultSavedMethod, uow=adapters.uow, clock=adapters.clock,
                                                 settings=settings)
    delete_saved_method = providers.Factory(DeleteSavedMethod, uow=adapters.uow, providers=adapters.registry,
                                            clock=adapters.clock, settings=settings)
    expire_sessions = providers.Factory(ExpireSessions, uow=adapters.uow, orders=orders, clock=adapters.clock)
    retry_refunds = providers.Factory(RetryRefunds, submit=submit_refund)
    _refunds = dict(uow=adapters.uow, ids=adapters.ids, clock=adapters.clock, settings=settings)
    quote_refund = providers.Factory(QuoteRefund, queries=adapters.queries, refund_queries=adapters.refund_queries,
                                     clock=adapters.clock, settings=settings)
    request_refund = providers.Factory(RequestRefund, **_refunds)
    cancel_refund = providers.Factory(CancelRefund, **_refunds)
    get_refund = providers.Factory(GetRefund, refund_queries=adapters.refund_queries)
    list_refunds = providers.Factory(ListRefunds, refund_queries=adapters.refund_queries)
    transaction_refunds = providers.Factory(TransactionRefunds, refund_queries=adapters.refund_queries)
    review_refunds = providers.Factory(ReviewRefunds, submit=submit_refund, **_refunds)
    issue_refund = providers.Factory(IssueRefund, submit=submit_refund, **_refunds)
    list_all_refunds = providers.Factory(ListAllRefunds, refund_queries=adapters.refund_queries)
    list_audit_log = providers.Factory(ListAuditLog, refund_queries=adapters.refund_queries)
    get_user_overview = providers.Factory(GetUserOverview, queries=adapters.queries,
                                          refund_queries=adapters.refund_queries, clock=adapters.clock,
                                          settings=settings, risk=adapters.risk_store)
    get_user_overview.add_kwargs(saved=list_saved_methods)  # docs/saved-methods.md
    list_all_transactions = providers.Factory(ListAllTransactions, operations=adapters.operations,
                                              clock=adapters.clock)
    revenue = providers.Factory(Revenue, operations=adapters.operations, clock=adapters.clock, settings=settings)
    success_rates = providers.Factory(SuccessRates, operations=adapters.operations, clock=adapters.clock)
    subscriptions = providers.Factory(Subscriptions, operations=adapters.operations, clock=adapters.clock,
                                      settings=settings)
    provider_statuses = providers.Factory(ProviderStatuses, providers=adapters.registry, circuits=circuits,
                                          operations=adapters.operations, clock=adapters.clock)
    read_health_figures = providers.Factory(ReadHealthFigures, operations=adapters.operations, clock=adapters.clock)
    reconcile_payments = providers.Factory(ReconcilePayments, uow=adapters.uow, providers=adapters.registry,
                                           notifications=handle_notification, clock=adapters.clock)
    deliver_events = providers.Factory(DeliverEvents, store=adapters.outbox, sender=adapters.event_sender,
                                       clock=adapters.clock,
                                       lease=providers.Callable(delivery_lease, adapters.config))
    purge_events = providers.Factory(PurgeEvents, store=adapters.outbox, clock=adapters.clock,
                                     retention=providers.Callable(events_retention, adapters.config))
    # Auto-renewal (docs/renewals.md): renewals charge saved methods through the saved-methods use cases.
    renewal_charges = providers.Factory(SavedMethodRenewals, charger=charge_off_session, providers=adapters.registry)
    set_subscription = providers.Factory(SetSubscription, uow=adapters.uow, charges=renewal_charges,
                                         clock=adapters.clock, settings=settings)
    renew_memberships = providers.Factory(RenewMemberships, uow=adapters.uow, charges=renewal_charges, orders=orders,
                                          clock=adapters.clock, ids=adapters.ids, settings=settings,
                                          queries=adapters.queries, prices=user_prices, risk=risk_gate)
    delete_saved_method.add_kwargs(  # a deleted renewal method: renewals by reminder from then on
        on_deleted=providers.List(providers.Factory(ForgetRenewalMethod, adapters.clock)))
    list_events = providers.Factory(ListEvents, store=adapters.outbox)
    redeliver_event = providers.Factory(RedeliverEvent, store=adapters.outbox, clock=adapters.clock,
                                        wake=adapters.outbox_wakeups.provided.wake)

    del _opening, _refunds


class Application(containers.DeclarativeContainer):
    config = providers.Dependency(instance_of=Config)
    metrics = providers.Singleton(Metrics)
    adapters = providers.Container(Adapters, config=config, metrics=metrics)
    settings = providers.Singleton(use_case_settings, config)
    use_cases = providers.Container(UseCases, adapters=adapters, settings=settings)


def build_container(config: Config, *, in_memory: bool = False) -> Application:
    container = Application(config=config)
    if in_memory:
        from entrypoints.memory_container import InMemoryAdapters, unused_resource

        container.adapters.override(InMemoryAdapters(config=config, metrics=container.metrics))
        # `init_resources` still walks the SQL adapters' resources: never open what is not used.
        # (`database` and `session_feed` are not among them: InMemoryAdapters overrides both.)
        container.adapters.http.override(providers.Resource(unused_resource))
    return container


def active_adapters(container: Application) -> containers.Container:
    """The adapters container in use: the in-memory one when `build_container(…, in_memory=True)`
    put it in place. Override its providers (a clock, the plugins) to change what the use cases get."""
    overriding = container.adapters.overridden
    return overriding[-1].provides if overriding else container.adapters
