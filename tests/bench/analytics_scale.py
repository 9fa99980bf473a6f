"""Benchmark of the operators' analytics (adapters/sql/analytics.py) on PostgreSQL at 10 k and at
1 M transactions, each read beside what a plain implementation would do: each transaction with one
payment session, 2 % of the paid ones with a refund (a tenth of those automatic), memberships for
10 % as many users, spread over the year before 2026-12-05 and generated in SQL
(`generate_series`, a fixed seed).

For each scale it prints the p50 and p95 latency of each read through `SqlOperationsQueries`
(the statement(s) and the mapping), over repeated runs: revenue by day (30 days, Asia/Shanghai,
by type), by ISO week (90 days, by provider) and by month (the year, by plan); success rates over
1 h, 24 h, 7 d and 30 d (by provider; 24 h by method too); subscriptions; every user's
transactions (the first page, by provider, one user's); failed refunds.

Beside each, in the same table, the plain column: the same question answered by straightforward
SQL (`PLAIN_*` below: bound values, `date_trunc(…, completed_at AT TIME ZONE tz)` with `GROUP BY`
for sales and refunds apart, a success rate as `count(*) FILTER (…)` over the sessions that ended
in the window with `percentile_cont` for the median, the admin list with `LIMIT … OFFSET` and a
`count(*)`), over the schema a plain team would have: the analytics-shaped indexes of revision
0013 (`ANALYTICS_INDEXES`) are dropped inside one transaction rolled back at the end (`DROP INDEX`
is transactional), keeping the primary keys, unique constraints and the indexes the write path
and one user's history need. Subscriptions have no plain statement of their own: that row runs
our statements with those indexes dropped (marked `*`). The plain reads go through the same
driver (`databases`, asyncpg) and map rows to the same types, on the one connection holding that
transaction. Ours also build their SQLAlchemy statements and take a pooled connection per read: a
fixed few tenths of a millisecond, which is all the difference where the SQL is the same (failed
refunds) and most of it at 10 k. Every plain answer except subscriptions is asserted equal to ours
before any figure is printed.

    .venv/bin/python tests/bench/analytics_scale.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
                                                    [--runs 30] [--plain-runs 5] [--scales 10000,1000000]
                                                    [--keep]

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

from adapters.sql import create_database, mapping, migrate
from adapters.sql.analytics import SqlOperationsQueries, round_half_up_div
from domain.transaction import Transaction
from ports.operations import (
    AdminTransactionQuery,
    Interval,
    OutcomeGroup,
    RevenueGroup,
    RevenueQuery,
    RevenueRow,
    SessionOutcomes,
)

DATABASE = "payments_bench_analytics"
NOW = datetime(2026, 12, 5, 12, tzinfo=UTC)
# Revision 0013's indexes (adapters/sql/tables.py), shaped for these reads: partial, covering.
ANALYTICS_INDEXES = (
    "ix_membership_transactions_sales", "ix_membership_transactions_created", "ix_membership_transactions_renewals",
    "ix_membership_transactions_failed_renewals", "ix_payment_refunds_succeeded", "ix_payment_sessions_paid_at",
    "ix_payment_sessions_lapsed_at", "ix_payment_sessions_stopped_at",
)

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


WINDOWS = {"1h": timedelta(hours=1), "24h": timedelta(days=1), "7d": timedelta(days=7), "30d": timedelta(days=30)}
REVENUES = {
    "revenue: day, 30 d, by type": revenue(30, Interval.DAY, RevenueGroup.TYPE),
    "revenue: week, 90 d, by provider": revenue(90, Interval.WEEK, RevenueGroup.PROVIDER),
    "revenue: month, 365 d, by plan": revenue(365, Interval.MONTH, RevenueGroup.PLAN),
}
OUTCOMES = {
    **{f"success rates: {name}, by provider": (span, OutcomeGroup.PROVIDER) for name, span in WINDOWS.items()},
    "success rates: 24h, by method": (WINDOWS["24h"], OutcomeGroup.PAYMENT_METHOD),
}
LISTS = {
    "transactions: first page": AdminTransactionQuery(as_of=NOW),
    "transactions: provider=stripe, page 3": AdminTransactionQuery(providers=("stripe",), page=3, as_of=NOW),
    "transactions: one user": AdminTransactionQuery(user_id="user_7", as_of=NOW),
}
SUBSCRIPTIONS = "subscriptions"
FAILED_REFUNDS = "failed refunds"


def reads(ops: SqlOperationsQueries) -> dict:
    """Each read of the service, by name: a coroutine function giving its answer."""
    found: dict = {name: (lambda q=q: ops.revenue(q)) for name, q in REVENUES.items()}
    for name, (span, group) in OUTCOMES.items():
        found[name] = lambda span=span, group=group: ops.session_outcomes(NOW - span, NOW, group)
    found[SUBSCRIPTIONS] = lambda: ops.subscriptions(NOW, NOW - timedelta(days=30), ("pro", "vip"), "basic")
    for name, query in LISTS.items():
        found[name] = lambda query=query: ops.transactions(query)
    found[FAILED_REFUNDS] = ops.failed_refunds
    return found


# The plain statements: what a team writing the dashboard straightforwardly would send.
PLAIN_SALES = """
SELECT CAST(date_trunc(:interval, completed_at AT TIME ZONE :tz) AS date) AS period, {group} AS grp,
       sum(total_minor) AS gross, count(*) AS n
FROM membership_transactions
WHERE status IN ('succeeded', 'partially_refunded', 'refunded') AND total_minor > 0 AND currency = :currency
  AND completed_at >= :start AND completed_at < :end
GROUP BY 1, 2"""
PLAIN_REFUNDS = """
SELECT CAST(date_trunc(:interval, r.completed_at AT TIME ZONE :tz) AS date) AS period, t.{group} AS grp,
       sum(r.amount_minor) AS refunded
FROM payment_refunds AS r JOIN membership_transactions AS t ON t.id = r.transaction_id
WHERE r.status = 'succeeded' AND r.kind <> 'automatic' AND r.currency = :currency
  AND r.completed_at >= :start AND r.completed_at < :end
GROUP BY 1, 2"""
PLAIN_OUTCOMES = """
SELECT {group} AS grp,
       count(*) FILTER (WHERE status IN ('completed', 'refunded')) AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status IN ('expired', 'open')) AS expired,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY round(extract(epoch FROM completed_at - created_at) * 1000))
           FILTER (WHERE status IN ('completed', 'refunded')) AS median_ms
FROM payment_sessions
WHERE (status IN ('completed', 'refunded') AND completed_at >= :since AND completed_at < :until)
   OR (status IN ('expired', 'open') AND expires_at >= :since AND expires_at < :until)
   OR (status IN ('failed', 'cancelled') AND updated_at >= :since AND updated_at < :until)
GROUP BY 1"""
PLAIN_PAGE = ("SELECT * FROM membership_transactions {where} ORDER BY created_at DESC, id DESC "
              "LIMIT :limit OFFSET :offset")
PLAIN_COUNT = "SELECT count(*) FROM membership_transactions {where}"
PLAIN_FAILED_REFUNDS = "SELECT count(*) FROM payment_refunds WHERE status = 'failed'"
GROUP_COLUMNS = {RevenueGroup.TYPE: "type", RevenueGroup.PLAN: "plan_to", RevenueGroup.PROVIDER: "provider",
                 RevenueGroup.PAYMENT_METHOD: "payment_method"}


def plain_reads(database, ops: SqlOperationsQueries) -> dict:
    """The same questions as `reads`, by name, in plain SQL (subscriptions: ours, see the docstring)."""
    async def plain_revenue(q: RevenueQuery) -> list[RevenueRow]:
        values = {"interval": q.interval.value, "tz": q.tz, "currency": q.currency, "start": q.start, "end": q.end}
        group = GROUP_COLUMNS[q.group_by]
        rows: dict = {}
        for row in await database.fetch_all(PLAIN_SALES.format(group=group), values):
            rows[(row["period"], row["grp"])] = [int(row["gross"]), 0, int(row["n"])]
        for row in await database.fetch_all(PLAIN_REFUNDS.format(group=group), values):
            rows.setdefault((row["period"], row["grp"]), [0, 0, 0])[1] += int(row["refunded"])
        found = [RevenueRow(period, grp, *sums) for (period, grp), sums in rows.items()]
        return sorted(found, key=lambda x: (x.period_start, x.group is not None, x.group or ""))

    async def plain_outcomes(span: timedelta, group: OutcomeGroup) -> list[SessionOutcomes]:
        column = "provider" if group is OutcomeGroup.PROVIDER else "payment_method"
        rows = await database.fetch_all(PLAIN_OUTCOMES.format(group=column), {"since": NOW - span, "until": NOW})
        return [SessionOutcomes(
            provider=row["grp"] if group is OutcomeGroup.PROVIDER else None,
            payment_method=row["grp"] if group is OutcomeGroup.PAYMENT_METHOD else None,
            completed=row["completed"], failed=row["failed"], expired=row["expired"], cancelled=row["cancelled"],
            # the median of whole milliseconds, in seconds rounded half up (as the service rounds it)
            median_seconds_to_pay=(None if row["median_ms"] is None
                                   else round_half_up_div(int(2 * row["median_ms"]), 2000)),
        ) for row in sorted(rows, key=lambda x: x["grp"])]

    async def plain_list(q: AdminTransactionQuery) -> tuple[list[Transaction], int]:
        where, values = "", {}
        if q.user_id is not None:
            where, values = "WHERE user_id = :user_id", {"user_id": q.user_id}
        elif q.providers:
            where, values = "WHERE provider = :provider", {"provider": q.providers[0]}
        rows = await database.fetch_all(PLAIN_PAGE.format(where=where), {**values, "limit": q.limit,
                                                                         "offset": q.offset})
        total = await database.fetch_val(PLAIN_COUNT.format(where=where), values)
        return [mapping.transaction_from_row(row) for row in rows], total

    async def plain_failed_refunds() -> int:
        return await database.fetch_val(PLAIN_FAILED_REFUNDS)

    found: dict = {name: (lambda q=q: plain_revenue(q)) for name, q in REVENUES.items()}
    for name, (span, group) in OUTCOMES.items():
        found[name] = lambda span=span, group=group: plain_outcomes(span, group)
    found[SUBSCRIPTIONS] = reads(ops)[SUBSCRIPTIONS]
    for name, query in LISTS.items():
        found[name] = lambda query=query: plain_list(query)
    found[FAILED_REFUNDS] = plain_failed_refunds
    return found


async def time_reads(found: dict, runs: int) -> dict[str, tuple[float, float, object]]:
    """p50 and p95 (ms) of each read over `runs` runs after one warm-up, and its answer."""
    results = {}
    for name, read in found.items():
        answer = await read()  # warm: plans, caches
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            await read()
            timings.append((time.perf_counter() - started) * 1000)
        timings.sort()
        results[name] = (statistics.median(timings), timings[max(int(len(timings) * 0.95) - 1, 0)], answer)
    return results


async def measure(url: str, runs: int) -> dict[str, tuple[float, float, object]]:
    database = create_database(url, min_size=1, max_size=2)
    await database.connect()
    try:
        return await time_reads(reads(SqlOperationsQueries(database)), runs)
    finally:
        await database.disconnect()


async def measure_plain(url: str, runs: int) -> dict[str, tuple[float, float, object]]:
    """The plain column: one connection, one transaction that drops the analytics' indexes and is
    rolled back at the end (`force_rollback`), so the database keeps them."""
    database = create_database(url, force_rollback=True, min_size=1, max_size=1)
    await database.connect()
    try:
        for index in ANALYTICS_INDEXES:
            await database.execute(f"DROP INDEX {index}")
        return await time_reads(plain_reads(database, SqlOperationsQueries(database)), runs)
    finally:
        await database.disconnect()


def comparable(name: str, answer: object) -> object:
    """What the plain answer must equal: a list's ids and total (the service also reads a pending
    transaction whose attempts lapsed as expired, which the plain list does not)."""
    if name in LISTS:
        items, total = answer
        return [item.id for item in items], total
    return answer


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plain-runs", type=int, default=5)
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
            ours = await measure(url, args.runs)
            plain = await measure_plain(url, args.plain_runs)
            for name, (_, _, answer) in plain.items():
                if name != SUBSCRIPTIONS:
                    assert comparable(name, answer) == comparable(name, ours[name][2]), (
                        f"{name}: the plain answer differs from the service's\n{answer}\n{ours[name][2]}")
            print(f"ours: SqlOperationsQueries, {args.runs} runs. plain: straightforward SQL with revision 0013's "
                  f"{len(ANALYTICS_INDEXES)} indexes dropped (rolled back), {args.plain_runs} runs; "
                  "* our statements with them dropped. Plain answers equal ours (asserted).")
            print(f"{'read':<42} {'p50 ms':>8} {'p95 ms':>8} {'plain p50':>10} {'plain p95':>10} {'plain/ours':>10}")
            for name, (p50, p95, _) in ours.items():
                plain_p50, plain_p95, _ = plain[name]
                label = f"{name} *" if name == SUBSCRIPTIONS else name
                print(f"{label:<42} {p50:8.2f} {p95:8.2f} {plain_p50:10.2f} {plain_p95:10.2f} "
                      f"{plain_p50 / p50:9.1f}x", flush=True)
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
