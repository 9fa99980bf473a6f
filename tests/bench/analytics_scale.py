"""Benchmark of the operators' analytics (adapters/sql/analytics.py) on PostgreSQL at 10 k and at
1 M transactions: each transaction with one payment session, 2 % of the paid ones with a refund
(a tenth of those automatic), memberships for 10 % as many users, spread over the year before
2026-12-05 and generated in SQL (`generate_series`, a fixed seed).

For each scale it prints the p50 and p95 latency of each read through `SqlOperationsQueries`
(the statement(s) and the mapping), over repeated runs: revenue by day (30 days, Asia/Shanghai,
by type), by ISO week (90 days, by provider) and by month (the year, by plan); success rates over
1 h, 24 h, 7 d and 30 d (by provider; 24 h by method too); subscriptions; every user's
transactions (the first page, by provider, one user's); failed refunds.

    .venv/bin/python tests/bench/analytics_scale.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                                    [--runs 30] [--scales 10000,1000000] [--keep]

It creates its own database (`payments_bench_analytics`, dropped at the end unless --keep). Not a
test: pytest does not collect it. Figures: docs/benchmarks.md, "The operators' analytics at scale".
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg

from adapters.sql import create_database, migrate
from adapters.sql.analytics import SqlOperationsQueries
from ports.operations import (
    AdminTransactionQuery,
    Interval,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
)

DATABASE = "payments_bench_analytics"
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)

FILL = """
SELECT setseed(0.42);
INSERT INTO membership_transactions (id, order_id, user_id, type, status, payment_method, provider, currency,
    subtotal_minor, discount_minor, total_minor, refunded_minor, receives, plan_from, plan_to,
    created_at, updated_at, completed_at, version)
SELECT 'txn_' || i, 'P' || lpad(i::text, 12, '0'), 'user_' || (i % $2),
       kind, state, method, CASE WHEN method = 'credit_card' THEN 'stripe' ELSE method END, 'CNY',
       amount, 0, amount, 0, CASE WHEN kind = 'purchase_receives' THEN 10 END,
       CASE WHEN kind <> 'purchase_receives' THEN 'basic' END,
       CASE WHEN kind <> 'purchase_receives' THEN (CASE WHEN r2 < 0.7 THEN 'pro' ELSE 'vip' END) END,
       created, created + interval '40 seconds',
       CASE WHEN state IN ('succeeded', 'partially_refunded', 'refunded') THEN created + (30 + r2 * 90) * interval '1 second' END,
       0
FROM (
    SELECT i, r2, $3::timestamptz - (random() * 365 * 86400) * interval '1 second' AS created,
           CASE WHEN r1 < 0.85 THEN 'purchase_receives' WHEN r1 < 0.95 THEN 'plan_upgrade' ELSE 'plan_renewal' END AS kind,
           CASE WHEN r3 < 0.62 THEN 'succeeded' WHEN r3 < 0.77 THEN 'expired' WHEN r3 < 0.87 THEN 'cancelled'
                WHEN r3 < 0.90 THEN 'pending' WHEN r3 < 0.92 THEN 'failed' WHEN r3 < 0.93 THEN 'refunded'
                ELSE 'partially_refunded' END AS state,
           CASE WHEN r4 < 0.5 THEN 'wechat_pay' WHEN r4 < 0.85 THEN 'alipay' ELSE 'credit_card' END AS method,
           CASE WHEN r1 < 0.85 THEN 1700 WHEN r2 < 0.7 THEN 2900 ELSE 5900 END AS amount
    FROM (SELECT i, random() AS r1, random() AS r2, random() AS r3, random() AS r4
          FROM generate_series(1, $1) AS i) AS draws
) AS rows;
INSERT INTO payment_sessions (id, transaction_id, user_id, order_id, status, payment_method, provider, currency,
    amount_minor, expires_at, created_at, updated_at, completed_at, version)
SELECT 'ps_' || substr(id, 5), id, user_id, 'S' || substr(order_id, 2),
       CASE status WHEN 'succeeded' THEN 'completed' WHEN 'partially_refunded' THEN 'completed'
                   WHEN 'refunded' THEN 'completed' WHEN 'pending' THEN 'open' ELSE status END,
       payment_method, provider, currency, total_minor, created_at + interval '1 hour', created_at,
       coalesce(completed_at, updated_at), completed_at, 0
FROM membership_transactions;
INSERT INTO payment_refunds (id, refund_order_id, transaction_id, session_id, user_id, provider, payment_order_id,
    currency, amount_minor, reason, status, created_at, updated_at, completed_at, version, kind)
SELECT 'rf_' || substr(id, 5), 'R' || substr(order_id, 2), id, 'ps_' || substr(id, 5), user_id, provider,
       'S' || substr(order_id, 2), currency, total_minor / 2, 'asked',
       CASE WHEN random() < 0.9 THEN 'succeeded' ELSE 'failed' END,
       completed_at + interval '1 day', completed_at + interval '2 days', completed_at + interval '2 days', 0,
       CASE WHEN random() < 0.1 THEN 'automatic' ELSE 'requested' END
FROM membership_transactions
WHERE status IN ('succeeded', 'partially_refunded', 'refunded') AND random() < 0.02;
INSERT INTO memberships (user_id, plan, monthly_allowance, anchor, period_index, allowance_remaining,
    allowance_used, purchased_remaining, created_at, updated_at, version)
SELECT 'user_' || u, plan, 3, anchor, 0, 0, 0, 0, anchor, anchor, 0
FROM (SELECT u, CASE WHEN random() < 0.8 THEN 'basic' WHEN random() < 0.7 THEN 'pro' ELSE 'vip' END AS plan,
             $3::timestamptz - (random() * 60 * 86400) * interval '1 second' AS anchor
      FROM generate_series(0, $2 - 1) AS u) AS users;
"""


def revenue(days: int, interval: Interval, group_by: RevenueGroup) -> RevenueQuery:
    zone = ZoneInfo("Asia/Shanghai")
    last = NOW.astimezone(zone).date()
    first = last - timedelta(days=days - 1)
    start = datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    return RevenueQuery(start, end, interval, group_by, "Asia/Shanghai", "CNY")


def reads(ops: SqlOperationsQueries) -> dict:
    window = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
    found = {
        "revenue: day, 30 d, by type": lambda: ops.revenue(revenue(30, Interval.DAY, RevenueGroup.TYPE)),
        "revenue: week, 90 d, by provider": lambda: ops.revenue(revenue(90, Interval.WEEK, RevenueGroup.PROVIDER)),
        "revenue: month, 365 d, by plan": lambda: ops.revenue(revenue(365, Interval.MONTH, RevenueGroup.PLAN)),
    }
    for name, span in window.items():
        found[f"success rates: {name}, by provider"] = (
            lambda span=span: ops.session_outcomes(NOW - span, NOW, OutcomeGroup.PROVIDER))
    found["success rates: 24h, by method"] = lambda: ops.session_outcomes(NOW - window["24h"], NOW,
                                                                          OutcomeGroup.PAYMENT_METHOD)
    found["subscriptions"] = lambda: ops.subscriptions(NOW, NOW - timedelta(days=30), ("pro", "vip"), "basic")
    found["transactions: first page"] = lambda: ops.transactions(AdminTransactionQuery(as_of=NOW))
    found["transactions: provider=stripe, page 3"] = lambda: ops.transactions(
        AdminTransactionQuery(providers=("stripe",), page=3, as_of=NOW))
    found["transactions: one user"] = lambda: ops.transactions(AdminTransactionQuery(user_id="user_7", as_of=NOW))
    found["failed refunds"] = ops.failed_refunds
    return found


async def measure(url: str, runs: int) -> list[tuple[str, float, float]]:
    database = create_database(url, min_size=1, max_size=2)
    await database.connect()
    try:
        ops = SqlOperationsQueries(database)
        results = []
        for name, read in reads(ops).items():
            await read()  # warm: plans, caches
            timings = []
            for _ in range(runs):
                started = time.perf_counter()
                await read()
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            results.append((name, statistics.median(timings), timings[int(len(timings) * 0.95) - 1]))
        return results
    finally:
        await database.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--scales", default="10000,1000000")
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    url = urlunsplit(urlsplit(args.url)._replace(path=f"/{DATABASE}"))
    admin = await asyncpg.connect(args.url)
    try:
        for rows in (int(x) for x in args.scales.split(",")):
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
            await admin.execute(f"CREATE DATABASE {DATABASE}")
            migrate(url)
            connection = await asyncpg.connect(url)
            started = time.perf_counter()
            try:
                # Our own numbers, written in: $1 transactions, $2 users, $3 now.
                script = (FILL.replace("$1", str(rows)).replace("$2", str(max(rows // 10, 1)))
                          .replace("$3::timestamptz", f"'{NOW.isoformat()}'::timestamptz"))
                await connection.execute(script)
                await connection.execute("VACUUM ANALYZE")  # what autovacuum does to a live table
                counts = {t: await connection.fetchval(f"SELECT count(*) FROM {t}")
                          for t in ("membership_transactions", "payment_sessions", "payment_refunds", "memberships")}
            finally:
                await connection.close()
            print(f"\n## {rows:,} transactions (filled in {time.perf_counter() - started:.0f} s: {counts})")
            print(f"{'read':<42} {'p50 ms':>8} {'p95 ms':>8}")
            for name, p50, p95 in await measure(url, args.runs):
                print(f"{name:<42} {p50:8.2f} {p95:8.2f}", flush=True)
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
