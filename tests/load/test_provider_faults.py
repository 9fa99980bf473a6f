"""Faults at the provider boundary, with real processes: `payments serve --workers 2` on a fresh
PostgreSQL database, its mock provider told to fail (PAYMENTS_MOCK_FAULTS):

- `open_payment` times out (the order is made, its answer lost) or answers 5xx for a share of
  calls: the service asks again with the same order id, then fails the session and closes its
  order; the payer retries with a new session;
- `query_payment` (the reconciler's status query) answers 5xx for a share of calls;
- a share of the notifications is never sent (PAYMENTS_MOCK_LOSE_NOTIFICATIONS).

Purchases go through the API; the payer pays (or declines) on the mock's checkout page. Time is
made to pass in the database: the sessions still open get their next provider check now (else
the first is a minute away), and the ones the payer walked away from reach their expiry; the
service's own background jobs (the reconciler every 10 s, the expiry sweep every 15 s, in each
worker) then settle everything, which is awaited with a bounded poll.

Then: no session ever got a second provider order; every session ended in a definite state;
every payment made at the mock was credited, and nothing was credited twice.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest

from live import eventually, pay_through_page, serve_process
from load_support import RECEIVES, SESSIONS, TRANSACTIONS, Answer, observe, post_once, sql

pytestmark = pytest.mark.postgres

USERS = 16
PURCHASES_PER_USER = 3
SESSION_ATTEMPTS = 3
FINAL = {"completed", "failed", "expired", "cancelled", "refunded"}
SETTLE_SECONDS = 75  # two or three rounds of each background job, with queries failing now and then


def mock_orders(state: Path) -> list[tuple[str, str, str, int]]:
    """(order_id, session_id, state, amount) of every order at the mock's remote side."""
    with contextlib.closing(sqlite3.connect(state)) as connection:
        return connection.execute("SELECT order_id, session_id, state, amount FROM mock_orders").fetchall()


@pytest.mark.parametrize("open_fault", ["timeout", "unavailable"])
async def test_provider_faults_never_make_a_second_order_lose_a_payment_or_credit_twice(
        open_fault, postgres_database_factory, tmp_path):
    database_url = postgres_database_factory(f"faults_{open_fault}")
    users = [f"faults-{n}-{secrets.token_hex(3)}" for n in range(USERS)]
    answers: Counter = Counter()
    opened: dict[str, str] = {}  # session id → what the payer does on its page: succeeded | failed | leave
    failed_opens: list[str] = []  # transactions whose session could not be opened (503 or 502)

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http, \
            serve_process(http, tmp_path, workers=2, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32),
                          PAYMENTS_MOCK_WEBHOOK_SECRET=secrets.token_hex(16),
                          PAYMENTS_MOCK_FAULTS=f"open_payment={open_fault}:0.6,query_payment=unavailable:0.3",
                          PAYMENTS_MOCK_TIMEOUT_SECONDS="0.3",
                          PAYMENTS_MOCK_LOSE_NOTIFICATIONS="0.5") as server:

        def auth(user: str) -> dict:
            return {"Authorization": f"Bearer {server.token(user)}"}

        known: dict[str, set[str]] = {user: set() for user in users}  # each user's transactions seen so far

        async def newest_pending(user: str) -> str | None:
            """The transaction the refused purchase wrote: a pending one not seen before (a user's
            purchases run one after another; an earlier one may still be pending, its session open)."""
            async with http.get(server.url(TRANSACTIONS), params={"status": "pending", "limit": "10"},
                                headers=auth(user)) as response:
                assert response.status == 200
                items = [item["id"] for item in (await response.json())["items"] if item["id"] not in known[user]]
                # None: the provider's circuit was open and refused the purchase before writing it
                return items[0] if items else None

        async def buy_and_pay(user: str, n: int) -> None:
            body = {"amount": 1 + (n % 10), "payment_method": ("wechat_pay", "alipay", "mock")[n % 3]}
            answer = await post_once(http, server.url(RECEIVES), json_body=body,
                                     headers={**auth(user), "Idempotency-Key": f"buy-{secrets.token_hex(8)}"})
            answers[f"purchase {answer.status} {answer.code}"] += 1
            session = answer.json()["session"] if answer.status == 201 else None
            if session is not None:
                known[user].add(answer.json()["transaction"]["id"])
            if session is None:
                assert (answer.status, answer.code) in ((503, "provider_unavailable"), (502, "provider_error")), answer
                transaction_id = await newest_pending(user)
                if transaction_id is None:
                    return
                known[user].add(transaction_id)
                failed_opens.append(transaction_id)
                for _ in range(SESSION_ATTEMPTS):  # the payer tries again: a new session, a new order
                    retry: Answer = await post_once(http, server.url(SESSIONS), headers=auth(user),
                                                    json_body={"transaction_id": transaction_id})
                    answers[f"session {retry.status} {retry.code}"] += 1
                    if retry.status == 201:
                        session = retry.json()
                        break
                    assert (retry.status, retry.code) in ((503, "provider_unavailable"), (502, "provider_error")), retry
            if session is None:
                return
            choice = ("succeeded", "succeeded", "succeeded", "failed", "leave")[n % 5]
            opened[session["id"]] = choice
            if choice != "leave":
                await pay_through_page(http, session["payment_url"], choice)

        async def purchases(user: str, first: int) -> None:
            for n in range(first, first + PURCHASES_PER_USER):
                await buy_and_pay(user, n)

        await asyncio.gather(*(purchases(user, i * PURCHASES_PER_USER) for i, user in enumerate(users)))

        # Time passes: the sessions left unpaid reach their expiry; open ones are due for a check.
        left = [sid for sid, choice in opened.items() if choice == "leave"]
        sql(database_url, "UPDATE payment_sessions SET expires_at = now() - interval '1 second' "
                          "WHERE id = ANY(%s) AND status = 'open'", left)
        state = tmp_path / "mock-remote.sqlite3"

        async def unsettled() -> dict:
            sql(database_url, "UPDATE payment_sessions SET next_check_at = now() WHERE user_id = ANY(%s) "
                              "AND status = 'open' AND next_check_at > now()", users)
            ours = dict(sql(database_url, "SELECT id, status FROM payment_sessions WHERE user_id = ANY(%s)", users))
            orders = {session_id: order_state for _, session_id, order_state, _ in mock_orders(state)}
            return {sid: (status, orders.get(sid)) for sid, status in ours.items()
                    if status == "open" or (orders.get(sid) == "succeeded" and status not in ("completed", "refunded"))
                    or (orders.get(sid) == "failed" and status != "failed")}

        await eventually(unsettled, lambda found: not found, timeout=SETTLE_SECONDS,
                         what="the reconciler and the sweeper to settle every session")
        reconciled = (tmp_path / "server.log").read_text().count("reconciled order")

    observe(f"faults-{open_fault}", answers=answers, sessions=Counter(opened.values()),
            failed_opens=len(failed_opens), reconciled=reconciled)
    sessions = sql(database_url, "SELECT id, transaction_id, order_id, status FROM payment_sessions "
                                 "WHERE user_id = ANY(%s)", users)
    orders = mock_orders(state)

    # An unknown outcome never made a second provider order: one order per session, under its own id.
    assert [sid for sid, count in Counter(session_id for _, session_id, _, _ in orders).items() if count > 1] == []
    assert Counter(order_id for order_id, _, _, _ in orders).most_common(1)[0][1] == 1
    by_order = {order_id: (session_id, order_state) for order_id, session_id, order_state, _ in orders}
    assert {session_id for session_id, _ in by_order.values()} <= {sid for sid, _, _, _ in sessions}
    for sid, _, order_id, status in sessions:
        assert by_order.get(order_id, (sid,))[0] == sid
        if sid in opened:  # answered 201: its order exists
            assert order_id in by_order
    # Every session ended in a definite state; a session whose opening failed has no payable order.
    assert {status for _, _, _, status in sessions} <= FINAL
    for sid, _, order_id, status in sessions:
        if sid not in opened:
            assert status == "failed" and by_order.get(order_id, (sid, "closed"))[1] == "closed", (sid, status)
        elif opened[sid] == "leave":
            assert (status, by_order[order_id][1]) == ("expired", "closed")
    # Every payment made at the mock was credited (once); nothing else was.
    paid_sessions = {session_id for _, session_id, order_state, _ in orders if order_state == "succeeded"}
    completed = {sid for sid, _, _, status in sessions if status in ("completed", "refunded")}
    assert paid_sessions == completed == {sid for sid, choice in opened.items() if choice == "succeeded"}
    succeeded = dict(sql(database_url, "SELECT id, receives FROM membership_transactions WHERE user_id = ANY(%s) "
                                       "AND status = 'succeeded'", users))
    assert set(succeeded) == {tid for sid, tid, _, _ in sessions if sid in completed}
    credits = Counter(dict(sql(database_url, "SELECT reference, count(*) FROM receives_ledger WHERE kind = 'purchase' "
                                             "AND user_id = ANY(%s) GROUP BY reference", users)))
    assert credits == Counter({tid: 1 for tid in succeeded})
    ((purchased,),) = sql(database_url, "SELECT coalesce(sum(purchased_remaining), 0) FROM memberships "
                                        "WHERE user_id = ANY(%s)", users)
    assert purchased == sum(succeeded.values())
    assert sql(database_url, "SELECT count(*) FROM payment_refunds WHERE user_id = ANY(%s)", users) == [(0,)]
    # The drill did drill: openings failed for good now and then, and lost notifications were
    # recovered by the reconciler.
    assert failed_opens and reconciled > 0
