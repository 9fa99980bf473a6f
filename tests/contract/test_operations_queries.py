"""Contract tests of the operators' reads (`ports.operations`) over memory, SQLite and PostgreSQL,
with exact figures from known data: revenue by day, ISO week and month in a time zone without
daylight saving time (Asia/Shanghai) and one with it (America/New_York, across the end of DST),
grouped four ways, gross/refunded/net; session outcomes with the median time to pay; subscriptions;
every user's transactions with filters."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from contract_support import (
    Backend,
    a_membership,
    a_transaction,
    new_id,
    new_order_id,
    store,
)

from domain.catalog import DEFAULT_CATALOG
from domain.membership import Membership
from domain.renewal import DEFAULT_POLICY
from domain.money import CNY, Money
from domain.refund import Refund, RefundKind
from domain.transaction import Transaction, TransactionStatus, TransactionType
from ports.operations import (
    AdminTransactionQuery,
    Interval,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
    RevenueRow,
)

SECOND, MINUTE, HOUR = timedelta(seconds=1), timedelta(minutes=1), timedelta(hours=1)


def operations(backend: Backend):
    """The operators' reads over the same storage as `backend` (the composition root's wiring)."""
    if backend.kind == "memory":
        from adapters.memory_operations import InMemoryOperationsQueries
        return InMemoryOperationsQueries(backend.queries._store)
    from adapters.sql.analytics import SqlOperationsQueries
    return SqlOperationsQueries(backend.queries._database)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def open_session(t: Transaction, now: datetime, method: str = "wechat_pay", provider: str = "mock"):
    return t.open_session(id=new_id("ps"), order_id=new_order_id("S"), payment_method=method, provider=provider,
                          return_url=None, ttl=HOUR, now=now).session


def paid(user: str, completed: datetime, *, type: TransactionType = TransactionType.PURCHASE_RECEIVES,
         method: str = "wechat_pay", provider: str = "mock", took: timedelta = MINUTE) -> Transaction:
    """A sale paid at `completed` (receives: 1700 fen; an upgrade to vip: 1000 fen)."""
    t = a_transaction(user, at=completed - took, type=type)
    session = open_session(t, completed - took, method, provider)
    t.confirm_payment(session.id, completed)
    return t


def refund_of(t: Transaction, amount: int, completed: datetime, kind: RefundKind = RefundKind.REQUESTED) -> Refund:
    if kind is RefundKind.AUTOMATIC:
        refund = Refund.for_duplicate_payment(id=new_id("rf"), refund_order_id=new_order_id("R"),
                                              session=t.sessions[0], now=completed - HOUR)
    else:
        refund = Refund.request(id=new_id("rf"), refund_order_id=new_order_id("R"), session=t.sessions[0],
                                amount=Money(amount, CNY), receives=None, ends_plan=False, reason="asked",
                                requested_by="alice", kind=kind, now=completed - HOUR)
        refund.approve("admin1", None, completed - MINUTE)
    refund.succeed(None, completed)
    return refund


def rows(*items: tuple) -> list[RevenueRow]:
    return [RevenueRow(date.fromisoformat(day), group, gross, refunded, n) for day, group, gross, refunded, n in items]


def revenue_query(first: str, last: str, tz: str, interval: Interval = Interval.DAY,
                  group_by: RevenueGroup = RevenueGroup.TYPE) -> RevenueQuery:
    zone = ZoneInfo(tz)
    start = datetime.combine(date.fromisoformat(first), datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(date.fromisoformat(last) + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    return RevenueQuery(start, end, interval, group_by, tz, "CNY")


@pytest.fixture
async def shanghai_sales(backend: Backend) -> dict[str, Transaction]:
    r1 = paid("alice", at("2026-11-30 16:30:00"))  # 2026-12-01 00:30 in Shanghai, still 11-30 in UTC
    r2 = paid("bob", at("2026-12-01 15:59:59"), method="alipay")  # 23:59:59 in Shanghai
    u1 = paid("carol", at("2026-12-01 16:00:00"), type=TransactionType.PLAN_UPGRADE,  # 12-02 00:00 in Shanghai
              method="credit_card", provider="stripe")
    pending = a_transaction("dave", at=at("2026-12-01 10:00:00"))
    open_session(pending, at("2026-12-01 10:00:00"))
    # A second payment of r1 sent back automatically: in neither gross nor refunded.
    duplicate = refund_of(r1, 1700, at("2026-12-01 20:00:00"), RefundKind.AUTOMATIC)
    asked = refund_of(r2, 340, at("2026-12-02 01:00:00"))  # 09:00 in Shanghai, 12-02
    await store(backend, r1, r2, u1, pending, duplicate, asked)
    return {"r1": r1, "r2": r2, "u1": u1}


async def test_revenue_by_day_in_shanghai_and_in_utc(backend: Backend, shanghai_sales) -> None:
    ops = operations(backend)
    assert await ops.revenue(revenue_query("2026-12-01", "2026-12-02", "Asia/Shanghai")) == rows(
        ("2026-12-01", "purchase_receives", 3400, 0, 2),
        ("2026-12-02", "plan_upgrade", 1000, 0, 1),
        ("2026-12-02", "purchase_receives", 0, 340, 0))
    assert await ops.revenue(revenue_query("2026-11-30", "2026-12-02", "UTC")) == rows(
        ("2026-11-30", "purchase_receives", 1700, 0, 1),
        ("2026-12-01", "plan_upgrade", 1000, 0, 1),
        ("2026-12-01", "purchase_receives", 1700, 0, 1),
        ("2026-12-02", "purchase_receives", 0, 340, 0))
    # The range's ends are local midnights: the first day in Shanghai leaves out nothing of 12-01.
    assert await ops.revenue(revenue_query("2026-12-01", "2026-12-01", "Asia/Shanghai")) == rows(
        ("2026-12-01", "purchase_receives", 3400, 0, 2))


async def test_revenue_grouped_by_plan_provider_and_method(backend: Backend, shanghai_sales) -> None:
    ops = operations(backend)
    query = revenue_query("2026-12-01", "2026-12-31", "Asia/Shanghai", Interval.MONTH, RevenueGroup.PLAN)
    assert await ops.revenue(query) == rows(("2026-12-01", None, 3400, 340, 2), ("2026-12-01", "vip", 1000, 0, 1))
    by_provider = revenue_query("2026-12-01", "2026-12-31", "Asia/Shanghai", Interval.MONTH, RevenueGroup.PROVIDER)
    assert await ops.revenue(by_provider) == rows(("2026-12-01", "mock", 3400, 340, 2),
                                                  ("2026-12-01", "stripe", 1000, 0, 1))
    by_method = revenue_query("2026-11-30", "2026-12-06", "Asia/Shanghai", Interval.WEEK, RevenueGroup.PAYMENT_METHOD)
    assert await ops.revenue(by_method) == rows(("2026-11-30", "alipay", 1700, 340, 1),
                                                ("2026-11-30", "credit_card", 1000, 0, 1),
                                                ("2026-11-30", "wechat_pay", 1700, 0, 1))


async def test_revenue_across_the_end_of_daylight_saving_time(backend: Backend) -> None:
    # America/New_York leaves DST on Sunday 2026-11-01 at 06:00 UTC (02:00 EDT becomes 01:00 EST).
    sales = [paid("u1", at("2026-11-01 03:30:00")),  # 10-31 23:30 EDT
             paid("u2", at("2026-11-01 04:30:00")),  # 11-01 00:30 EDT
             paid("u3", at("2026-11-02 04:30:00")),  # 11-01 23:30 EST
             paid("u4", at("2026-11-02 05:30:00"))]  # 11-02 00:30 EST (a Monday)
    await store(backend, *sales)
    ops = operations(backend)
    tz = "America/New_York"
    assert await ops.revenue(revenue_query("2026-10-31", "2026-11-02", tz)) == rows(
        ("2026-10-31", "purchase_receives", 1700, 0, 1),
        ("2026-11-01", "purchase_receives", 3400, 0, 2),
        ("2026-11-02", "purchase_receives", 1700, 0, 1))
    assert await ops.revenue(revenue_query("2026-10-26", "2026-11-08", tz, Interval.WEEK)) == rows(
        ("2026-10-26", "purchase_receives", 5100, 0, 3),
        ("2026-11-02", "purchase_receives", 1700, 0, 1))
    assert await ops.revenue(revenue_query("2026-10-01", "2026-11-30", tz, Interval.MONTH)) == rows(
        ("2026-10-01", "purchase_receives", 1700, 0, 1),
        ("2026-11-01", "purchase_receives", 5100, 0, 3))
    # The same sales in Shanghai: one day each, 11-01 twice (11:30 and 12:30), then 11-02 twice.
    assert await ops.revenue(revenue_query("2026-11-01", "2026-11-02", "Asia/Shanghai")) == rows(
        ("2026-11-01", "purchase_receives", 3400, 0, 2),
        ("2026-11-02", "purchase_receives", 3400, 0, 2))


NOW = at("2026-12-05 12:00:00")


async def test_session_outcomes_in_a_window_with_the_median_time_to_pay(backend: Backend) -> None:
    fast = paid("a", NOW - 2 * HOUR, took=30 * SECOND)
    slow = paid("b", NOW - 3 * HOUR, took=31 * SECOND)
    by_card = paid("c", NOW - 4 * HOUR, method="credit_card", took=90 * SECOND)
    twice = a_transaction("d", at=NOW - 5 * HOUR - 60 * SECOND)
    first = open_session(twice, NOW - 5 * HOUR - 60 * SECOND)
    second = open_session(twice, NOW - 5 * HOUR - 50 * SECOND)  # the first reads cancelled
    twice.confirm_payment(second.id, NOW - 5 * HOUR)  # 50 s
    twice.confirm_payment(first.id, NOW - 5 * HOUR + 20 * SECOND)  # paid twice: refunded, 80 s
    failed = a_transaction("e", at=NOW - 6 * HOUR)
    failing = open_session(failed, NOW - 6 * HOUR)
    failed.fail_attempt(failing.id, "declined", NOW - 6 * HOUR + MINUTE)
    cancelled = a_transaction("f", at=NOW - 7 * HOUR)
    open_session(cancelled, NOW - 7 * HOUR)
    cancelled.cancel("changed my mind", NOW - 7 * HOUR + MINUTE)
    lapsed = a_transaction("g", at=NOW - 9 * HOUR)
    open_session(lapsed, NOW - 9 * HOUR)  # expires at NOW - 8 h, never swept: reads expired
    old = paid("h", NOW - 25 * HOUR)  # ended before the window
    still_open = a_transaction("i", at=NOW - 10 * MINUTE)
    open_session(still_open, NOW - 10 * MINUTE)  # not ended
    await store(backend, fast, slow, by_card, twice, failed, cancelled, lapsed, old, still_open)
    ops = operations(backend)

    [mock] = await ops.session_outcomes(NOW - 24 * HOUR, NOW, OutcomeGroup.PROVIDER)
    assert (mock.provider, mock.payment_method) == ("mock", None)
    assert (mock.completed, mock.failed, mock.expired, mock.cancelled, mock.sessions) == (5, 1, 1, 1, 8)
    # Times to pay: 30, 31, 90, 50 and the refunded one's 80 s: the median is 50 s.
    assert mock.median_seconds_to_pay == 50

    by_method = await ops.session_outcomes(NOW - 24 * HOUR, NOW, OutcomeGroup.PAYMENT_METHOD)
    # wechat_pay: 30, 31, 50, 80: (31 + 50) / 2 = 40.5, rounded up to 41.
    assert [(o.provider, o.payment_method, o.completed, o.sessions, o.median_seconds_to_pay) for o in by_method] == [
        (None, "credit_card", 1, 1, 90), (None, "wechat_pay", 4, 7, 41)]
    assert await ops.session_outcomes(NOW - HOUR, NOW, OutcomeGroup.PROVIDER) == []


def a_member(user: str, plan: str, anchor: datetime, period_index: int = 0) -> Membership:
    chosen = DEFAULT_CATALOG.plan(plan)
    return Membership(user_id=user, plan=chosen.id, monthly_allowance=chosen.monthly_receives, anchor=anchor,
                      period_index=period_index, allowance_remaining=0, allowance_used=0, purchased_remaining=0,
                      scheduled_change=None, created_at=anchor, updated_at=anchor)


async def test_subscriptions_read_at_now(backend: Backend) -> None:
    now = at("2026-11-30 18:00:00")
    members = [
        a_membership("basic-1", at("2026-11-01 00:00:00")),
        a_member("pro-now", "pro", at("2026-11-15 00:00:00")),
        a_member("vip-now", "vip", at("2026-11-20 00:00:00")),
        # Anchored on Dec 31: its 11th period ends on Nov 30 at 12:00 (the day clamped), before now.
        a_member("pro-clamped", "pro", at("2025-12-31 12:00:00"), period_index=10),
        a_member("pro-lapsed-long-ago", "pro", at("2026-09-01 00:00:00")),  # ended 10-01: not in 30 days
        a_member("vip-ends-tonight", "vip", at("2026-10-30 23:00:00")),  # ends 11-30 23:00, after now
    ]
    renewal = TransactionType.PLAN_RENEWAL
    renewals = [paid("r1", at("2026-11-20 00:00:00"), type=renewal), paid("r2", at("2026-11-29 00:00:00"), type=renewal),
                paid("r3", at("2026-10-20 00:00:00"), type=renewal),  # more than 30 days ago
                a_transaction("r4", at=at("2026-11-25 00:00:00"), type=renewal, status=TransactionStatus.FAILED),
                a_transaction("r5", at=at("2026-10-25 00:00:00"), type=renewal, status=TransactionStatus.FAILED),
                paid("r6", at("2026-11-25 00:00:00"))]  # a purchase, not a renewal
    await store(backend, *members, *renewals)
    counts = await operations(backend).subscriptions(now, now - timedelta(days=30), ("pro", "vip"), "basic")
    assert counts.active == {"basic": 3, "pro": 1, "vip": 2}
    assert counts.churned == 1
    assert (counts.past_due, counts.renewals_succeeded, counts.renewals_failed) == (0, 2, 1)


async def test_past_due_memberships_count_in_their_plan_until_their_grace_ends(backend: Backend) -> None:
    now = at("2026-11-30 18:00:00")

    def renewing(user: str, anchor: datetime, method: str | None, roll_to: datetime | None = None) -> Membership:
        member = a_member(user, "pro", anchor)
        member.set_auto_renew(True, method, DEFAULT_CATALOG, DEFAULT_POLICY, anchor)
        if roll_to is not None:
            member.roll_forward(roll_to, DEFAULT_CATALOG)
        return member
    await store(backend,
                renewing("stored-past-due", at("2026-10-28 00:00:00"), None, at("2026-11-28 00:00:00")),
                renewing("ended-unread", at("2026-10-29 00:00:00"), None),  # past due as of now, never rolled
                renewing("charged-soon", at("2026-10-29 00:00:00"), "spm_1"),  # awaits its charge: active
                renewing("grace-over", at("2026-10-01 00:00:00"), None, at("2026-11-02 00:00:00")),  # lapsed 11-08
                renewing("renews-later", at("2026-11-10 00:00:00"), None))
    counts = await operations(backend).subscriptions(now, now - timedelta(days=30), ("pro", "vip"), "basic")
    assert counts.active == {"basic": 1, "pro": 4, "vip": 0}
    assert counts.past_due == 2


async def test_every_users_transactions_with_filters(backend: Backend) -> None:
    a = paid("alice", at("2026-12-01 10:00:00"))
    b = paid("bob", at("2026-12-01 11:00:00"), method="alipay", provider="alipay")
    c = paid("carol", at("2026-12-02 09:00:00"), type=TransactionType.PLAN_UPGRADE, method="credit_card",
             provider="stripe")
    lapsed = a_transaction("alice", at=at("2026-12-02 10:00:00"))
    open_session(lapsed, at("2026-12-02 10:00:00"))  # pending, expires 11:00
    await store(backend, a, b, c, lapsed)
    ops = operations(backend)
    found, total = await ops.transactions(AdminTransactionQuery())
    assert ([t.id for t in found], total) == ([lapsed.id, c.id, b.id, a.id], 4)
    found, total = await ops.transactions(AdminTransactionQuery(user_id="alice", limit=1, page=2))
    assert ([t.id for t in found], total) == ([a.id], 2)
    found, _ = await ops.transactions(AdminTransactionQuery(providers=("alipay", "stripe")))
    assert [t.id for t in found] == [c.id, b.id]
    found, _ = await ops.transactions(AdminTransactionQuery(payment_methods=("wechat_pay",),
                                                            types=(TransactionType.PURCHASE_RECEIVES,)))
    assert [t.id for t in found] == [lapsed.id, a.id]
    found, _ = await ops.transactions(AdminTransactionQuery(date_from=at("2026-12-01 10:30:00"),
                                                            date_to=at("2026-12-02 09:00:00")))
    assert [t.id for t in found] == [c.id, b.id]
    later = at("2026-12-02 12:00:00")
    found, total = await ops.transactions(AdminTransactionQuery(statuses=(TransactionStatus.EXPIRED,), as_of=later))
    assert ([(t.id, t.status) for t in found], total) == ([(lapsed.id, TransactionStatus.EXPIRED)], 1)
    found, total = await ops.transactions(AdminTransactionQuery(statuses=(TransactionStatus.PENDING,), as_of=later))
    assert (found, total) == ([], 0)
    found, _ = await ops.transactions(AdminTransactionQuery(statuses=(TransactionStatus.PENDING,)))
    assert [t.id for t in found] == [lapsed.id]


async def test_failed_refunds_are_counted(backend: Backend) -> None:
    sale = paid("alice", at("2026-12-01 10:00:00"))
    refund = Refund.request(id=new_id("rf"), refund_order_id=new_order_id("R"), session=sale.sessions[0],
                            amount=Money(100, CNY), receives=None, ends_plan=False, reason="asked",
                            requested_by="alice", kind=RefundKind.REQUESTED, now=at("2026-12-01 11:00:00"))
    refund.approve("admin1", None, at("2026-12-01 11:01:00"))
    refund.fail(at("2026-12-01 11:02:00"), "closed")
    await store(backend, sale, refund)
    assert await operations(backend).failed_refunds() == 1
