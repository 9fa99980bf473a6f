"""The in-memory adapters of the composition root (`build_container(config, in_memory=True)`: tests,
demos), in a module of their own so that a serving worker, on SQL, never imports them
(docs/benchmarks.md, "Memory per worker with every plugin loaded"). They provide the same names
as `entrypoints.container.Adapters`."""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from adapters.clock import SystemClock
from adapters.ids import RandomIdGenerator
from adapters.memory import (
    InMemoryIdempotencyStore,
    InMemoryInstructions,
    InMemoryQueries,
    InMemoryStore,
    in_memory_uow_factory,
)
from adapters.memory_clock import InMemoryClockOffsets
from adapters.memory_experiments import InMemoryExperimentStore
from adapters.memory_operations import InMemoryOperationsQueries
from adapters.memory_outbox import InMemoryOutboxStore
from adapters.memory_refunds import InMemoryRefundQueries
from adapters.memory_risk import InMemoryRiskStore
from adapters.session_feed import InProcessSessionFeed
from domain.catalog import PAYMENT_METHODS
from entrypoints.config import Config
from entrypoints.container import (
    always_ready,
    business_clock_resource,
    containers,
    event_sender_resource,
    events_recorder,
    make_outbox_wakeups,
    providers,
    risk_flag_events,
    wake_on_reported,
)
from entrypoints.http.metrics import Metrics
from plugins.mock import DEVELOPMENT_WEBHOOK_SECRET, MockProvider
from plugins.mock.faults import FaultPlan
from ports.clock import Clock
from ports.events import EventDispatcher
from ports.payment_provider import PaymentProvider, ProviderRegistry
from ports.session_feed import session_changes


def in_memory_store() -> Iterator[InMemoryStore]:
    """The in-memory adapters' store of record, in place of the SQL database."""
    yield InMemoryStore()


async def unused_resource() -> AsyncIterator[None]:
    """Stands in for the SQL database and the plugins' HTTP client in memory: neither is opened."""
    yield None


def mock_everywhere(config: Config, clock: Clock) -> dict[str, PaymentProvider]:
    """The in-memory set-up registers the mock plugin under every routed provider name."""
    faults = FaultPlan.from_settings(config.environ)  # the drills work in memory too
    return {name: MockProvider(webhook_secret=config.mock_webhook_secret or DEVELOPMENT_WEBHOOK_SECRET,
                               public_url=config.public_url, clock=clock, name=name, faults=faults)
            for name in set(config.method_routes.values()) | {"mock"}}


class InMemoryAdapters(containers.DeclarativeContainer):
    config = providers.Dependency(instance_of=Config)
    metrics = providers.Dependency(instance_of=Metrics)
    real_clock = providers.Singleton(SystemClock)
    clock_offsets = providers.Singleton(InMemoryClockOffsets)
    clock = providers.Resource(business_clock_resource, config, clock_offsets, real_clock)
    ids = providers.Singleton(RandomIdGenerator, config.provided.id_secret)
    session_feed = providers.Singleton(InProcessSessionFeed)
    outbox_wakeups = providers.Singleton(make_outbox_wakeups, config)
    event_recorder = providers.Callable(events_recorder, config)
    dispatcher = providers.Singleton(EventDispatcher, providers.List(
        metrics.provided.observe_events, providers.Callable(session_changes, session_feed),
        providers.Callable(wake_on_reported, outbox_wakeups)))
    database = providers.Resource(in_memory_store)  # the store of record, as `Adapters.database`
    uow = providers.Singleton(in_memory_uow_factory, database, dispatcher, event_recorder)
    outbox = providers.Singleton(InMemoryOutboxStore, database)
    event_sender = providers.Resource(event_sender_resource, config, real_clock)
    queries = providers.Singleton(InMemoryQueries, database)
    refund_queries = providers.Singleton(InMemoryRefundQueries, database)
    risk_store = providers.Singleton(InMemoryRiskStore, database, providers.Callable(risk_flag_events, config))
    experiments = providers.Singleton(InMemoryExperimentStore, database)
    operations = providers.Singleton(InMemoryOperationsQueries, database)
    instructions = providers.Singleton(InMemoryInstructions, database)
    idempotency = providers.Singleton(InMemoryIdempotencyStore)
    payment_providers = providers.Singleton(mock_everywhere, config, real_clock)
    registry = providers.Singleton(ProviderRegistry, payment_providers, config.provided.method_routes,
                                   providers.Object(PAYMENT_METHODS))
    readiness = providers.Singleton(always_ready)
