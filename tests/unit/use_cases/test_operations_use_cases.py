"""The operators' use cases over the in-memory reads: the revenue's range in a time zone (dates
inclusive, default the 30 days ending today there, bad zones and ranges refused naming the field),
success rates in basis points rounded half up, MRR from the plans' prices, and the providers'
health (methods routed to each, circuit, last hour's rate)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from adapters.clock import FixedClock
from adapters.memory import InMemoryStore
from adapters.memory_operations import InMemoryOperationsQueries
from domain.catalog import DEFAULT_CATALOG, PAYMENT_METHODS
from domain.errors import DomainValidationError
from domain.membership import Membership
from plugins.mock import MockProvider
from ports.circuit_breakers import CircuitBreakers
from ports.operations import (
    Interval,
    OperationsQueries,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
    SessionOutcomes,
)
from ports.payment_provider import ProviderRegistry
from ports.use_cases.operations.analytics import (
    Revenue,
    RevenueCommand,
    Subscriptions,
    SuccessRates,
    basis_points,
)
from ports.use_cases.operations.providers import ProviderStatuses
from ports.use_cases.settings import UseCaseSettings

NOW = datetime(2026, 12, 1, 17, 30, tzinfo=UTC)  # 12-02 01:30 in Shanghai


class RecordingQueries(InMemoryOperationsQueries):
    def __init__(self, store: InMemoryStore, outcomes: list[SessionOutcomes] | None = None) -> None:
        super().__init__(store)
        self.revenue_queries: list[RevenueQuery] = []
        self.windows: list[tuple[datetime, datetime, OutcomeGroup]] = []
        self._outcomes = outcomes or []

    async def revenue(self, query: RevenueQuery):
        self.revenue_queries.append(query)
        return await super().revenue(query)

    async def session_outcomes(self, since, until, group_by):
        self.windows.append((since, until, group_by))
        return self._outcomes


def settings() -> UseCaseSettings:
    return UseCaseSettings(notify_url_template="http://payments.test/{provider}")


@pytest.fixture
def store() -> InMemoryStore:
    return InMemoryStore()


async def test_revenue_dates_are_local_midnights_and_default_to_the_last_30_days(store):
    queries = RecordingQueries(store)
    revenue = Revenue(queries, FixedClock(NOW), settings())
    report = await revenue(RevenueCommand(tz="Asia/Shanghai"))
    assert (report.date_from, report.date_to, report.currency) == (date(2026, 11, 3), date(2026, 12, 2), "CNY")
    query = queries.revenue_queries[-1]
    assert (query.start, query.end) == (datetime(2026, 11, 2, 16, tzinfo=UTC), datetime(2026, 12, 2, 16, tzinfo=UTC))

    await revenue(RevenueCommand(date(2026, 3, 8), date(2026, 3, 8), Interval.DAY, RevenueGroup.PLAN,
                                 "America/New_York"))  # the day DST starts: 23 hours
    query = queries.revenue_queries[-1]
    assert (query.start, query.end - query.start) == (datetime(2026, 3, 8, 5, tzinfo=UTC), timedelta(hours=23))

    later = await revenue(RevenueCommand(date_from=date(2026, 12, 20)))  # after today: date_to follows date_from
    assert (later.date_from, later.date_to, later.rows, len(queries.revenue_queries)) == (
        date(2026, 12, 20), date(2026, 12, 20), (), 2)  # nothing can be there yet: not read


@pytest.mark.parametrize("tz", ["Mars/Base", "", "/etc/localtime", "Asia/../Asia/Shanghai"])
async def test_unknown_zones_are_refused(store, tz):
    with pytest.raises(DomainValidationError) as refused:
        await Revenue(RecordingQueries(store), FixedClock(NOW), settings())(RevenueCommand(tz=tz))
    assert refused.value.field == "tz"


async def test_date_times_stand_for_their_day_and_ranges_are_read_within_what_can_exist(store):
    queries = RecordingQueries(store)
    revenue = Revenue(queries, FixedClock(NOW), settings())
    report = await revenue(RevenueCommand(datetime(2026, 11, 30, 16, 30, tzinfo=UTC),
                                          datetime(2026, 12, 1, 15, 59, tzinfo=UTC), tz="Asia/Shanghai"))
    assert (report.date_from, report.date_to) == (date(2026, 12, 1), date(2026, 12, 1))

    # Asked from year 1 to 9999: answered as asked, read from 2000-01-01 to tomorrow.
    report = await revenue(RevenueCommand(date(1, 1, 1), date(9999, 12, 31), tz="America/New_York"))
    assert (report.date_from, report.date_to) == (date(1, 1, 1), date(9999, 12, 31))
    query = queries.revenue_queries[-1]
    assert (query.start, query.end) == (datetime(2000, 1, 1, 5, tzinfo=UTC), datetime(2026, 12, 3, 5, tzinfo=UTC))
    edges = await revenue(RevenueCommand(datetime(1, 1, 1, tzinfo=UTC), datetime(1, 1, 2, tzinfo=UTC),
                                         tz="America/New_York"))
    assert edges.rows == () and len(queries.revenue_queries) == 2  # nothing can be there: not read

    # A range that ends before it starts is empty, not an error.
    inverted = await revenue(RevenueCommand(date(2026, 12, 2), date(2026, 12, 1)))
    assert inverted.rows == () and len(queries.revenue_queries) == 2


def test_basis_points_round_half_up():
    assert [basis_points(*x) for x in ((4, 6), (1, 3), (2, 3), (1, 20000), (0, 5), (5, 5), (0, 0))] == [
        6667, 3333, 6667, 1, 0, 10000, None]


async def test_success_rates_cover_the_window_and_refuse_others(store):
    outcomes = [SessionOutcomes("mock", None, completed=2, failed=1, expired=0, cancelled=0, median_seconds_to_pay=7)]
    queries = RecordingQueries(store, outcomes)
    rates = SuccessRates(queries, FixedClock(NOW))
    [item] = await rates("7d", OutcomeGroup.PROVIDER)
    assert (item.sessions, item.success_rate_bps, item.median_seconds_to_pay) == (3, 6667, 7)
    assert queries.windows == [(NOW - timedelta(days=7), NOW, OutcomeGroup.PROVIDER)]
    with pytest.raises(DomainValidationError) as refused:
        await rates("2h", OutcomeGroup.PROVIDER)
    assert refused.value.field == "window"


async def test_mrr_counts_every_paid_plan_at_its_price(store):
    for user, plan in (("a", "pro"), ("b", "pro"), ("c", "vip"), ("d", "basic")):
        store.memberships[user] = Membership.start(user, DEFAULT_CATALOG.plan(plan), NOW - timedelta(days=3))
    report = await Subscriptions(InMemoryOperationsQueries(store), FixedClock(NOW), settings())()
    assert (report.active, report.mrr, report.past_due, report.churned) == (
        {"basic": 1, "pro": 2, "vip": 1}, 2 * 2900 + 5900, 0, 0)


async def test_provider_health_lists_each_loaded_provider_with_its_methods(store):
    clock = FixedClock(NOW)
    mocks = {name: MockProvider(webhook_secret="s", public_url="http://payments.test", clock=clock, name=name)
             for name in ("mock", "backup")}
    registry = ProviderRegistry(mocks, {"wechat_pay": "mock", "alipay": "backup", "mock": "mock"}, PAYMENT_METHODS)
    circuits = CircuitBreakers(providers=mocks)
    for _ in range(5):
        circuits.record_unavailable("backup")
    outcomes = [SessionOutcomes("mock", None, completed=1, failed=2, expired=0, cancelled=0, median_seconds_to_pay=3)]
    queries: OperationsQueries = RecordingQueries(store, outcomes)
    items = await ProviderStatuses(registry, circuits, queries, clock)()
    assert [(i.provider, i.methods, i.circuit, i.consecutive_failures, i.success_rate_bps_1h) for i in items] == [
        ("backup", ("alipay",), "open", 5, None), ("mock", ("wechat_pay", "mock"), "closed", 0, 3333)]
