"""Benchmark of the transaction history query (GET /api/v1/payments/transactions) on PostgreSQL
at 10 k and at 1 M rows: 1,000,000 transactions of 10,000 users, loaded with COPY.

For each scale it prints the EXPLAIN (ANALYZE, BUFFERS) plans of the adapter's own statements
(`adapters.sql.repositories.history_statements`: the page of 20, newest first, with the total of
all matches in each row, and the count alone that is run for a page past the end), then the
p50/p95 latency of the whole `list_for_user` call through `SqlUnitOfWork` (one statement and the
mapping), over repeated runs, for:

- a typical user (the table's average history: ~1 row at 10 k, ~100 at 1 M), rotating over 100
  random users;
- the heaviest user, who owns 0.5 % of all rows (50 at 10 k, 5,000 at 1 M);

each without a filter, with a common status (`succeeded`) and with a rare one (`refunded`).

    .venv/bin/python tests/bench/history_scale.py [--url postgresql://postgres@127.0.0.1:5432/postgres]

It creates its own database (`payments_bench_history`, dropped at the end unless --keep).
Not a test: pytest does not collect it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import asyncpg  # noqa: E402
from sqlalchemy.dialects import postgresql  # noqa: E402

from adapters.sql import create_database, migrate, sql_uow_factory  # noqa: E402
from adapters.sql.repositories.history import history_statements  # noqa: E402
from adapters.sql.tables import transactions  # noqa: E402
from domain.transaction import TransactionStatus  # noqa: E402
from ports.repositories import TransactionQuery  # noqa: E402

DATABASE = "payments_bench_history"
HEAVY_USER = "user_heavy"
STATUSES = [  # (status, share)
    ("succeeded", 0.62), ("expired", 0.15), ("cancelled", 0.10), ("pending", 0.03), ("failed", 0.02),
    ("refunded", 0.01), ("partially_refunded", 0.07),
]
TYPES = [("purchase_receives", 0.85), ("plan_upgrade", 0.08), ("plan_downgrade", 0.02), ("plan_renewal", 0.05)]
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
SPAN_SECONDS = 2 * 365 * 24 * 3600
QUERIES = {
    "no filter": TransactionQuery(),
    "status=succeeded": TransactionQuery(statuses=(TransactionStatus.SUCCEEDED,)),
    "status=refunded": TransactionQuery(statuses=(TransactionStatus.REFUNDED,)),
}


def scale(rows: int) -> str:
    return f"{rows / 1_000_000:g} M" if rows >= 1_000_000 else f"{rows / 1000:g} k"


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def generate(rng: random.Random, first: int, count: int, users: int) -> list[tuple]:
    """Rows `first` .. `first + count - 1` in the column order of `transactions`. Every 200th row
    belongs to the heavy user; the others to a uniformly random one of `users`."""
    columns = [c.name for c in transactions.columns]
    statuses, status_weights = zip(*STATUSES)
    types, type_weights = zip(*TYPES)
    picked_status = rng.choices(statuses, status_weights, k=count)
    picked_type = rng.choices(types, type_weights, k=count)
    rows = []
    for n in range(count):
        i = first + n
        user = HEAVY_USER if i % 200 == 0 else f"user_{rng.randrange(users):05d}"
        created = START + timedelta(microseconds=rng.randrange(SPAN_SECONDS * 1_000_000))
        kind, status = picked_type[n], picked_status[n]
        plan = kind != "purchase_receives"
        total = 0 if kind == "plan_downgrade" else rng.choice((200, 900, 1700, 2900, 3200, 5900))
        row = {
            "id": f"txn_{rng.getrandbits(96):024x}", "order_id": f"P{i:020d}", "user_id": user, "type": kind,
            "status": status, "payment_method": None if kind == "plan_downgrade" else "wechat_pay",
            "provider": None if kind == "plan_downgrade" else "mock", "currency": "CNY",
            "subtotal_minor": total, "discount_minor": 0, "total_minor": total,
            "refunded_minor": total if status == "refunded" else 0, "receives": None if plan else 10,
            "plan_from": "basic" if plan else None, "plan_to": "pro" if plan else None,
            "proration_credit_minor": None, "proration_debit_minor": None, "proration_charge_minor": None,
            "proration_period_end": None, "cancel_reason": "changed my mind" if status == "cancelled" else None,
            "failure_reason": None, "paid_session_id": None, "created_at": created, "updated_at": created,
            "completed_at": created if status in ("succeeded", "refunded", "partially_refunded") else None,
            "version": 0,
        }
        rows.append(tuple(row[c] for c in columns))
    return rows


async def load(connection: asyncpg.Connection, rng: random.Random, first: int, count: int, users: int) -> float:
    started = time.perf_counter()
    columns = [c.name for c in transactions.columns]
    batch = 100_000
    for offset in range(0, count, batch):
        rows = generate(rng, first + offset, min(batch, count - offset), users)
        await connection.copy_records_to_table("membership_transactions", records=rows, columns=columns)
    await connection.execute("VACUUM ANALYZE transactions")  # the steady state autovacuum keeps
    return time.perf_counter() - started


def literal_sql(statement) -> str:
    return str(statement.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


async def explain(connection: asyncpg.Connection, user: str, label: str, query: TransactionQuery) -> None:
    for part, statement in zip(("page of 20 with its total", "total count alone"), history_statements(user, query)):
        plan = await connection.fetch(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {literal_sql(statement)}")
        print(f"\n  -- {label}: {part} ({user})")
        for line in plan:
            print(f"     {line[0]}")


async def time_adapter(uow_factory, users: list[str], query: TransactionQuery, runs: int) -> tuple[float, float, int]:
    """p50 and p95 in ms of `list_for_user` through a unit of work; and the last total seen."""
    samples, total = [], 0
    for n in range(runs + 20):
        user = users[n % len(users)]
        started = time.perf_counter()
        async with uow_factory() as uow:
            _, total = await uow.transactions.list_for_user(user, query)
        if n >= 20:  # warm-up
            samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1], total


async def measure(url: str, connection: asyncpg.Connection, scale: str, typical: list[str], runs: int) -> None:
    rows = await connection.fetchval("SELECT count(*) FROM membership_transactions")
    mine = await connection.fetchval("SELECT count(*) FROM membership_transactions WHERE user_id = $1", typical[0])
    heavy = await connection.fetchval("SELECT count(*) FROM membership_transactions WHERE user_id = $1", HEAVY_USER)
    print(f"\n=== {scale}: {rows:,} rows; typical user {typical[0]} has {mine} rows, {HEAVY_USER} has {heavy} ===")
    for label, query in QUERIES.items():
        await explain(connection, typical[0], label, query)
    await explain(connection, HEAVY_USER, "status=refunded", QUERIES["status=refunded"])
    database = create_database(url, min_size=1, max_size=2)
    await database.connect()
    try:
        uow = sql_uow_factory(database)
        print(f"\n  list_for_user through SqlUnitOfWork, {runs} runs each (ms):")
        for who, users in (("typical users", typical), ("heavy user", [HEAVY_USER])):
            for label, query in QUERIES.items():
                p50, p95, total = await time_adapter(uow, users, query, runs)
                print(f"    {scale:>9} | {who:<13} | {label:<17} | p50 {p50:6.2f} | p95 {p95:6.2f} | total≈{total}")
    finally:
        await database.disconnect()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PAYMENTS_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an admin URL of the PostgreSQL server (the benchmark makes its own database)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=10_000, help="rows of the first measurement")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()

    admin = await asyncpg.connect(args.url)
    await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DATABASE}")
    url = with_database(args.url, DATABASE)
    try:
        migrate(url)
        rng = random.Random(20261127)
        typical = [f"user_{rng.randrange(args.users):05d}" for _ in range(100)]
        connection = await asyncpg.connect(url)
        try:
            server = await connection.fetchval("SHOW server_version")
            print(f"PostgreSQL {server}; {args.rows:,} transactions of {args.users:,} users (+ {HEAVY_USER})")
            seconds = await load(connection, rng, 0, args.small, args.users)
            print(f"loaded {args.small:,} rows in {seconds:.1f} s")
            await measure(url, connection, scale(args.small), typical, args.runs)
            seconds = await load(connection, rng, args.small, args.rows - args.small, args.users)
            print(f"\nloaded {args.rows - args.small:,} more rows in {seconds:.1f} s (COPY into the indexed table)")
            size = await connection.fetchval("SELECT pg_size_pretty(pg_total_relation_size('membership_transactions'))")
            print(f"transactions with its indexes: {size}")
            await measure(url, connection, scale(args.rows), typical, args.runs)
        finally:
            await connection.close()
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
