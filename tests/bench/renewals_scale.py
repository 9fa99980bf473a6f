"""Benchmark of the renewal job (docs/renewals.md) at scale: N memberships (default 10,000) on Pro
with auto-renewal and a saved mock card, all renewing at one period end, renewed by
`payments serve --workers 4` on a fresh PostgreSQL database; beside it, a plain implementation.

Set-up: one member is made through the API exactly as a user would (Pro paid through the mock's
checkout page with `save_method`, the card saved, `POST /subscription {"auto_renew": true}`); the
others are SQL copies of what the use cases wrote for it, one per user (`generate_series`): the
`memberships` row (same plan, period and `renewal_check_at`, its own `renewal_method_id`), the
`payment_methods` row (its own id and provider token), and the mock provider's saved card in its
state file (its own token). So the renewal job reads for each exactly what it reads for a member
made through the API.

Then the test clock passes the period end (docs/test-clock.md: every worker's job wakes) and the
script counts, in SQL, the renewals that succeeded until all have (bounded wait). It prints:
the time to renew all and renewals/s, the CPU seconds of the 4 workers and of every `postgres`
process meanwhile (the machine's: run it with nothing else using the server), and checks that
every user has exactly one renewal (the unique index `ux_membership_transactions_one_renewal`
makes a second impossible; the count shows none was attempted twice either: one off-session
attempt each) and that the mock charged each renewal's order exactly once.

Plain implementation: what a cron job would do over the same rows, from one process with asyncpg:
select the due memberships, then for each, one transaction: INSERT the renewal transaction
(succeeded), UPDATE the membership to its next period, COMMIT. It charges nobody (no provider call,
no events, no lease, no idempotency), so it is an upper bound of a plain loop's rate; it runs on a
copy of the memberships table made before the period end, after the service has finished.

    .venv/bin/python tests/bench/renewals_scale.py [--url postgresql://postgres@127.0.0.1:5432/postgres]
        [--users 10000] [--workers 4] [--timeout 900]

It creates its own database (`payments_bench_renewals`, dropped at the end unless --keep).
Not a test: pytest does not collect it.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "load"))

import aiohttp
import asyncpg
from clock_support import CLOCK, advance_clock
from live import eventually, pay_through_page, serve_process
from load_support import raise_open_files_limit, worker_pids

from adapters.sql import migrate

DATABASE = "payments_bench_renewals"
PLAN = "/api/v1/payments/plan"
SUBSCRIPTION = "/api/v1/payments/subscription"
SAVED = "/api/v1/payments/saved-methods"
TICK = os.sysconf("SC_CLK_TCK")


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def cpu_seconds(pids: set[int] | None = None) -> float:
    """utime + stime of `pids`, or of every `postgres` process when None, from /proc."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or (pids is not None and int(entry) not in pids):
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                text = stat.read()
        except OSError:
            continue
        name, rest = text.split("(", 1)[1].rsplit(")", 1)
        if pids is None and name != "postgres":
            continue
        fields = rest.split()
        total += int(fields[11]) + int(fields[12])
    return total / TICK


async def template_member(service, browser: aiohttp.ClientSession, user: str) -> dict:
    """`user` on Pro, paid by a mock card saved for off-session charges, auto-renewal on."""
    upgrade = await service.post(PLAN, {"new_plan": "pro", "payment_method": "credit_card", "save_method": True},
                                 user=user, expect=201)
    await pay_through_page(browser, upgrade["session"]["payment_url"], card="ok")
    await eventually(lambda: service.get(SAVED, user=user), lambda found: len(found["items"]) == 1, timeout=30,
                     what=f"{user}'s card saved")
    membership = await service.post(SUBSCRIPTION, {"auto_renew": True}, user=user)
    assert membership["plan"] == "pro" and membership["renewal_method_id"] is not None, membership
    return membership


async def clone_members(connection: asyncpg.Connection, state: Path, template: str, users: int) -> None:
    """Users `renew-00001` … as SQL copies of the template's membership and saved method, and of the
    mock's saved card (its own token each)."""
    method = await connection.fetchrow(
        "SELECT id, provider_token FROM payment_methods WHERE user_id = $1 AND deleted_at IS NULL", template)
    columns = [r["column_name"] for r in await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        "payment_methods")]
    replaced = {"id": "id || '_' || lpad(n::text, 5, '0')", "user_id": "'renew-' || lpad(n::text, 5, '0')",
                "provider_token": "provider_token || '_' || lpad(n::text, 5, '0')"}
    select = ", ".join(replaced.get(c, c) for c in columns)
    await connection.execute(
        f"INSERT INTO payment_methods ({', '.join(columns)}) SELECT {select} FROM payment_methods, "
        f"generate_series(1, $1) AS n WHERE id = $2", users - 1, method["id"])
    columns = [r["column_name"] for r in await connection.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
        "memberships")]
    replaced = {"user_id": "'renew-' || lpad(n::text, 5, '0')",
                "renewal_method_id": "renewal_method_id || '_' || lpad(n::text, 5, '0')"}
    select = ", ".join(replaced.get(c, c) for c in columns)
    await connection.execute(
        f"INSERT INTO memberships ({', '.join(columns)}) SELECT {select} FROM memberships, "
        f"generate_series(1, $1) AS n WHERE user_id = $2", users - 1, template)
    customers = await connection.fetchval("SELECT count(*) FROM provider_customers WHERE user_id = $1", template)
    if customers:
        await connection.execute(
            "INSERT INTO provider_customers SELECT 'renew-' || lpad(n::text, 5, '0'), provider, customer_reference, "
            "created_at FROM provider_customers, generate_series(1, $1) AS n WHERE user_id = $2", users - 1, template)
    with sqlite3.connect(state) as mock:
        row = mock.execute("SELECT token, order_id, payment_method, card, customer_reference, detached "
                           "FROM mock_saved_methods WHERE token = ?", (method["provider_token"],)).fetchone()
        assert row is not None, "the mock keeps no saved card for the template"
        mock.executemany("INSERT INTO mock_saved_methods VALUES (?, ?, ?, ?, ?, ?)",
                         [(f"{row[0]}_{n:05d}", *row[1:]) for n in range(1, users)])
    await connection.execute("ANALYZE")


async def renewed(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM membership_transactions WHERE type = 'plan_renewal' AND status = 'succeeded'")


async def until_renewed(connection: asyncpg.Connection, wanted: int, timeout: float) -> int:
    """Count the paid renewals every 0.25 s (cheap beside the job's work) until `wanted`; bounded."""
    deadline = time.perf_counter() + timeout
    while (done := await renewed(connection)) < wanted:
        if time.perf_counter() > deadline:
            raise AssertionError(f"{done:,} of {wanted:,} renewals paid after {timeout} s")
        await asyncio.sleep(0.25)
    return done


async def plain_loop(connection: asyncpg.Connection, now: datetime) -> tuple[int, float]:
    """The cron job: the due memberships of `naive_memberships`, one transaction each (INSERT the
    renewal, UPDATE the membership); how many and the seconds it took."""
    started = time.perf_counter()
    due = await connection.fetch(
        "SELECT user_id, plan FROM naive_memberships WHERE renewal_check_at <= $1 ORDER BY renewal_check_at, user_id",
        now)
    for n, member in enumerate(due):
        async with connection.transaction():
            await connection.execute(
                "INSERT INTO naive_transactions (id, order_id, user_id, type, status, currency, subtotal_minor, "
                "discount_minor, total_minor, refunded_minor, plan_from, plan_to, created_at, updated_at, "
                "completed_at, version, renewal_period_start) VALUES ($1, $2, $3, 'plan_renewal', 'succeeded', "
                "'CNY', 2900, 0, 2900, 0, $4, $4, $5, $5, $5, 1, $5)",
                f"txn_naive_{n:06d}", f"NAIVE{n:010d}", member["user_id"], member["plan"], now)
            await connection.execute(
                "UPDATE naive_memberships SET period_index = period_index + 1, allowance_used = 0, "
                "renewal_check_at = renewal_check_at + interval '1 month', updated_at = $2, version = version + 1 "
                "WHERE user_id = $1", member["user_id"], now)
    return len(due), time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("PAYMENTS_TEST_POSTGRES_URL",
                                                        "postgresql://postgres@127.0.0.1:5432/postgres"),
                        help="an admin URL of the PostgreSQL server (the benchmark makes its own database)")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for every renewal")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark database")
    args = parser.parse_args()
    raise_open_files_limit()

    admin = await asyncpg.connect(args.url)
    await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await admin.execute(f"CREATE DATABASE {DATABASE}")
    url = with_database(args.url, DATABASE)
    workdir = Path(tempfile.mkdtemp(prefix="renewals-bench-"))
    try:
        migrate(url)
        connection = await asyncpg.connect(url)
        async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as browser, \
                serve_process(http, workdir, workers=args.workers, PAYMENTS_DATABASE_URL=url,
                              PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32)) as service:
            pids = await eventually(lambda: asyncio.sleep(0, worker_pids(service.process.pid, workdir / "server.log")),
                                    lambda found: len(found) == args.workers, timeout=30, what="every worker")
            template = "renew-00000"
            membership = await template_member(service, browser, template)
            started = time.perf_counter()
            await clone_members(connection, workdir / "mock-remote.sqlite3", template, args.users)
            print(f"{args.users:,} memberships set up in {time.perf_counter() - started:.1f} s "
                  f"(1 through the API, {args.users - 1:,} SQL copies)")
            await connection.execute("CREATE TABLE naive_memberships AS SELECT * FROM memberships")
            await connection.execute("ALTER TABLE naive_memberships ADD PRIMARY KEY (user_id)")
            await connection.execute("CREATE TABLE naive_transactions (LIKE membership_transactions INCLUDING ALL)")
            before = await renewed(connection)

            now = at((await service.get(CLOCK))["now"])
            seconds = int((at(membership["current_period_end"]) - now).total_seconds()) + 60
            workers_cpu, postgres_cpu = cpu_seconds(pids), cpu_seconds()
            started = time.perf_counter()
            business_now = await advance_clock(service, seconds)
            done = await until_renewed(connection, before + args.users, args.timeout)
            elapsed = time.perf_counter() - started
            workers_cpu, postgres_cpu = cpu_seconds(pids) - workers_cpu, cpu_seconds() - postgres_cpu

            counts = await connection.fetchrow("""
                SELECT count(*) AS renewals, count(DISTINCT t.user_id) AS users,
                       count(*) FILTER (WHERE (SELECT count(*) FROM payment_sessions s
                                               WHERE s.transaction_id = t.id AND s.saved_method_id IS NOT NULL) = 1)
                           AS one_attempt,
                       array_agg(s1.order_id) AS orders
                FROM membership_transactions t
                LEFT JOIN LATERAL (SELECT order_id FROM payment_sessions s WHERE s.transaction_id = t.id
                                   AND s.saved_method_id IS NOT NULL LIMIT 1) s1 ON true
                WHERE t.type = 'plan_renewal'""")
            with sqlite3.connect(workdir / "mock-remote.sqlite3") as mock:
                charges = mock.execute("SELECT order_id, state FROM mock_orders "
                                       "WHERE session_id LIKE 'offsession:%'").fetchall()
        print(f"\nservice: `payments serve --workers {args.workers}`, PostgreSQL, mock provider (load average "
              f"{os.getloadavg()[0]:.2f} at the end)")
        print(f"  renewed {done - before:,} in {elapsed:.1f} s: {(done - before) / elapsed:.0f} renewals/s")
        print(f"  CPU: workers {workers_cpu:.1f} s ({workers_cpu * 1000 / args.users:.2f} ms per renewal), "
              f"postgres {postgres_cpu:.1f} s ({postgres_cpu * 1000 / args.users:.2f} ms per renewal)")
        charged = {order for order, state in charges if state == "succeeded"}
        ok = (counts["renewals"] == counts["users"] == args.users and counts["one_attempt"] == args.users
              and len(charges) == args.users and set(counts["orders"]) == charged)
        print(f"  renewals {counts['renewals']:,} of {counts['users']:,} users, {counts['one_attempt']:,} with one "
              f"attempt; mock charges {len(charges):,}, {len(charged):,} succeeded, each a renewal's order: "
              f"{'OK' if ok else 'MISMATCH'}")

        workers_cpu = cpu_seconds()
        count, seconds = await plain_loop(connection, business_now)
        postgres_cpu = cpu_seconds() - workers_cpu
        print(f"\nplain loop (one process, asyncpg, one transaction per membership, no charge): {count:,} in "
              f"{seconds:.1f} s: {count / seconds:.0f} renewals/s, postgres CPU {postgres_cpu:.1f} s")
        await connection.close()
        if not ok:
            sys.exit(1)
    finally:
        if not args.keep:
            await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await admin.close()


if __name__ == "__main__":
    asyncio.run(main())
