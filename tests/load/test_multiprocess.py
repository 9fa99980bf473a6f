"""Under load, across processes: `payments serve --workers 4` as a real subprocess on a fresh
PostgreSQL database, hit by hundreds of concurrent requests from an async HTTP client.

1. 200 identical purchases with one `Idempotency-Key` at once create one transaction; every
   answer is the first one (replays marked `Idempotent-Replayed: true`) or 409 in progress.
2. 500 consumptions of one receive at once on a balance of exactly 100: 100 succeed, 400 are
   refused with `insufficient_receives`, the balance ends at 0 and the ledger sums to 0.
3. One signed notification delivered 20 times at once, for each of 50 payments (1000 POSTs):
   each payment is credited exactly once, nothing is refunded.
4. A worker killed with SIGKILL in the middle of purchases, idempotent retries and notifications
   (at a moment the provider hangs, so it dies holding idempotency claims of purchases it had
   begun): gunicorn replaces it; nothing is credited twice, no idempotency key stays in flight
   past its lease (30 s), and every request the client insists on (same key, retried on
   connection errors, 409 in progress and 5xx) is eventually answered. A purchase the dead worker
   had committed but not answered is resumed by the retry that takes its key over (its ids derive
   from the key), so no transaction is left behind unanswered.

The four tests share one server (module scope); each uses users of its own. The kill test runs
last, so the others never meet a worker being replaced. What each test observed (answer counts)
goes to the file named by PAYMENTS_LOAD_REPORT, if set (`load_support.observe`).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from live import eventually, serve_process
from load_support import (
    CONSUME,
    IN_PROGRESS,
    MEMBERSHIP,
    MOCK_WEBHOOK,
    RECEIVES,
    TRANSACTIONS,
    Answer,
    Client,
    client_connections,
    observe,
    post_once,
    raise_open_files_limit,
    signed_notification,
    sql,
    worker_pids,
)

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]

WORKERS = 4
MOCK_SECRET = secrets.token_hex(16)


class Server:
    def __init__(self, service, database_url: str, workdir: Path) -> None:
        self.service = service
        self.database_url = database_url
        self.workdir = workdir  # its log (server.log) and the mock's state (mock-remote.sqlite3)

    @property
    def port(self) -> int:
        return int(self.service.base_url.rsplit(":", 1)[1])

    def workers(self) -> set[int]:
        return worker_pids(self.service.process.pid, self.workdir / "server.log")

    async def live_workers(self) -> set[int]:
        return self.workers()

    def url(self, path: str) -> str:
        return self.service.url(path)

    def auth(self, user: str, role: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.service.token(user, role)}"}

    def sql(self, query: str, *params) -> list[tuple]:
        return sql(self.database_url, query, *params)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(postgres_database_factory, tmp_path_factory):
    raise_open_files_limit()
    database_url = postgres_database_factory("load")
    workdir = tmp_path_factory.mktemp("load-server")
    async with aiohttp.ClientSession() as http, \
            serve_process(http, workdir, workers=WORKERS, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32),
                          PAYMENTS_MOCK_WEBHOOK_SECRET=MOCK_SECRET) as service:
        server = Server(service, database_url, workdir)
        await eventually(server.live_workers, lambda pids: len(pids) == WORKERS, timeout=30,
                         what="every worker to start")
        yield server


def burst_client() -> aiohttp.ClientSession:
    """A client that opens as many connections as there are requests (all at once)."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0, force_close=True),
                                 timeout=aiohttp.ClientTimeout(total=60))


def new_user(label: str) -> str:
    return f"{label}-{secrets.token_hex(4)}"


async def buy(server: Server, http: aiohttp.ClientSession, user: str, amount: int) -> dict:
    answer = await post_once(http, server.url(RECEIVES), json_body={"amount": amount, "payment_method": "mock"},
                             headers=server.auth(user))
    assert answer.status == 201, answer
    return answer.json()


async def get(server: Server, http: aiohttp.ClientSession, path: str, user: str) -> dict:
    async with http.get(server.url(path), headers=server.auth(user)) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def notify(server: Server, http: aiohttp.ClientSession, session: dict) -> None:
    body, headers = signed_notification(MOCK_SECRET, session)
    answer = await post_once(http, server.url(MOCK_WEBHOOK), data=body, headers=headers)
    assert (answer.status, answer.json()) == (200, {"received": True}), answer


# ---------------------------------------------------------------------- 1. one key, 200 at once
async def test_200_identical_purchases_with_one_idempotency_key_create_one_transaction(server):
    user = new_user("idem")
    headers = {**server.auth(user), "Idempotency-Key": f"buy-{secrets.token_hex(8)}"}
    body = {"amount": 7, "payment_method": "wechat_pay"}

    async with burst_client() as http:
        answers = await asyncio.gather(*(post_once(http, server.url(RECEIVES), json_body=body, headers=headers)
                                         for _ in range(200)))
        after = await post_once(http, server.url(RECEIVES), json_body=body, headers=headers)
        listed = await get(server, http, TRANSACTIONS, user)

    observe("one_key", answers=Counter(f"{a.status} replayed={a.replayed} {a.code}" for a in answers))
    assert not [a for a in answers if a.status >= 500]
    firsts = [a for a in answers if not a.replayed and a.code != IN_PROGRESS]
    assert len(firsts) == 1, Counter((a.status, a.replayed, a.code) for a in answers)
    (first,) = firsts
    assert first.status == 201
    for answer in answers:
        assert answer == first or (answer.status, answer.body, answer.replayed) == (first.status, first.body, True) \
            or (answer.status, answer.code, answer.replayed) == (409, IN_PROGRESS, False), answer
    assert (after.status, after.body, after.replayed) == (201, first.body, True)  # done: replayed from now on

    transaction_id = first.json()["transaction"]["id"]
    assert listed["total"] == 1 and [t["id"] for t in listed["items"]] == [transaction_id]
    assert server.sql("SELECT id FROM membership_transactions WHERE user_id = %s", user) == [(transaction_id,)]
    assert server.sql("SELECT count(*) FROM payment_sessions WHERE user_id = %s", user) == [(1,)]
    assert server.sql("SELECT response_status, locked_until FROM idempotency_keys WHERE user_id = %s",
                      user) == [(201, None)]


# ---------------------------------------------------------------------- 2. 500 consumptions on 100
async def test_500_concurrent_consumptions_on_a_balance_of_100_take_exactly_100(server):
    user = new_user("consume")
    service = server.auth("main-backend", "service")
    async with burst_client() as http:
        # The basic allowance (3) is used up first, then 100 receives are bought and paid.
        warm_up = await post_once(http, server.url(CONSUME), json_body={"user_id": user, "count": 3,
                                                                        "reference": "warm-up"}, headers=service)
        assert warm_up.status == 200 and warm_up.json()["receives"]["balance"] == 0, warm_up
        bought = await buy(server, http, user, 100)
        await notify(server, http, bought["session"])
        before = await get(server, http, MEMBERSHIP, user)
        assert before["receives"] == {**before["receives"], "balance": 100, "allowance_remaining": 0,
                                      "purchased_remaining": 100}

        answers = await asyncio.gather(*(
            post_once(http, server.url(CONSUME), json_body={"user_id": user, "count": 1, "reference": f"match-{n}"},
                      headers=service) for n in range(500)))
        after = await get(server, http, MEMBERSHIP, user)

    observe("consume", answers=Counter(f"{a.status} {a.code}" for a in answers))
    assert Counter((a.status, a.code) for a in answers) == {(200, None): 100, (409, "insufficient_receives"): 400}
    assert sorted(a.json()["receives"]["balance"] for a in answers if a.status == 200) == list(range(100))
    assert after["receives"]["balance"] == 0
    assert server.sql("SELECT bucket, sum(delta) FROM receives_ledger WHERE user_id = %s GROUP BY bucket "
                      "ORDER BY bucket", user) == [("allowance", 0), ("purchased", 0)]
    assert server.sql("SELECT count(*), sum(count) FROM consumptions WHERE user_id = %s", user) == [(101, 103)]
    assert server.sql("SELECT allowance_remaining, purchased_remaining FROM memberships WHERE user_id = %s",
                      user) == [(0, 0)]


# ---------------------------------------------------------------------- 3. 20 deliveries x 50 payments
async def test_a_notification_delivered_20_times_at_once_for_each_of_50_payments_credits_each_once(
        server):
    users = [new_user("webhook") for _ in range(10)]
    async with burst_client() as http:
        async def purchases(user: str) -> list[dict]:  # 5 each: the pending limit
            return [await buy(server, http, user, amount) for amount in range(1, 6)]
        bought = [payment for per_user in await asyncio.gather(*map(purchases, users)) for payment in per_user]
        assert len(bought) == 50
        deliveries = []
        for payment in bought:
            body, headers = signed_notification(MOCK_SECRET, payment["session"])
            deliveries += [(body, headers)] * 20
        random.shuffle(deliveries)

        answers = await asyncio.gather(*(post_once(http, server.url(MOCK_WEBHOOK), data=body, headers=headers)
                                         for body, headers in deliveries))
        memberships = {user: await get(server, http, MEMBERSHIP, user) for user in users}

    observe("webhooks", answers=Counter(a.status for a in answers))
    assert Counter((a.status, a.body) for a in answers) == {(200, b'{"received": true}'): 1000}
    for user in users:
        assert memberships[user]["receives"]["purchased_remaining"] == 1 + 2 + 3 + 4 + 5
    ids = [payment["transaction"]["id"] for payment in bought]
    assert server.sql("SELECT status, count(*) FROM membership_transactions WHERE id = ANY(%s) GROUP BY status",
                      ids) == [("succeeded", 50)]
    assert server.sql("SELECT status, count(*) FROM payment_sessions WHERE transaction_id = ANY(%s) GROUP BY status",
                      ids) == [("completed", 50)]
    assert server.sql("SELECT reference, count(*) FROM receives_ledger WHERE kind = 'purchase' "
                      "AND reference = ANY(%s) GROUP BY reference HAVING count(*) <> 1", ids) == []
    assert server.sql("SELECT count(*) FROM receives_ledger WHERE kind = 'purchase' AND reference = ANY(%s)",
                      ids) == [(50,)]
    assert server.sql("SELECT count(*) FROM payment_refunds WHERE transaction_id = ANY(%s)", ids) == [(0,)]


# ---------------------------------------------------------------------- 4. kill -9 a worker mid-load
LOAD_USERS = 16


@contextlib.contextmanager
def provider_hangs(server: Server):
    """The mock's remote side stops answering: its state file is write-locked, so every
    `open_payment` waits inside the worker (as a worker waits on a provider that hangs) until the
    lock is released at the end of the block."""
    lock = sqlite3.connect(server.workdir / "mock-remote.sqlite3", isolation_level=None)
    try:
        lock.execute("BEGIN IMMEDIATE")
        yield
    finally:
        lock.execute("ROLLBACK")
        lock.close()


async def test_a_worker_killed_mid_load_is_replaced_and_nothing_is_lost_or_credited_twice(server):
    users = [new_user("kill") for _ in range(LOAD_USERS)]
    before = server.workers()
    assert len(before) == WORKERS
    stop = asyncio.Event()
    answered: dict[str, Answer] = {}  # Idempotency-Key → the first answer the client got for it
    paid: dict[str, int] = {}  # transaction id → receives, as the client bought and paid them
    replays = Counter()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0),
                                     timeout=aiohttp.ClientTimeout(total=10)) as http:
        client = Client(http, server.service.base_url, deadline_seconds=45)

        async def flow(user: str) -> None:
            rng = random.Random(user)
            while not stop.is_set():
                key = f"buy-{secrets.token_hex(8)}"
                body = {"amount": rng.randint(1, 10), "payment_method": "mock"}
                headers = {**server.auth(user), "Idempotency-Key": key}
                answer = await client.answered(RECEIVES, json_body=body, headers=headers)
                answered[key] = answer
                assert answer.status == 201, answer
                if rng.random() < 0.3:  # the client retries a request it did get an answer to
                    again = await client.answered(RECEIVES, json_body=body, headers=headers)
                    assert (again.status, again.body, again.replayed) == (201, answer.body, True), again
                    replays["purchase"] += 1
                bought = answer.json()
                notification, signed = signed_notification(MOCK_SECRET, bought["session"])
                ack = await client.answered(MOCK_WEBHOOK, data=notification, headers=signed)
                assert (ack.status, ack.json()) == (200, {"received": True}), ack
                paid[bought["transaction"]["id"]] = bought["transaction"]["receives"]

        async def in_flight() -> set[str]:
            rows = await asyncio.to_thread(server.sql, "SELECT key FROM idempotency_keys WHERE user_id = ANY(%s) "
                                                       "AND response_status IS NULL", users)
            return {key for (key,) in rows}

        flows = [asyncio.create_task(flow(user)) for user in users]
        try:
            await asyncio.sleep(1.5)
            # The busiest worker is killed while the provider hangs, so purchases it runs are
            # caught between their commit and their answer, holding their idempotency claims.
            with provider_hangs(server):
                await asyncio.sleep(0.5)
                victim = max(sorted(server.workers()), key=lambda pid: client_connections(pid, server.port))
                os.kill(victim, signal.SIGKILL)
            await asyncio.sleep(1.0)  # the live workers finish what they held
            held = await in_flight()
            await asyncio.sleep(0.5)
            held &= await in_flight()  # still in flight: the claims of the killed worker

            replaced = await eventually(server.live_workers, lambda pids: len(pids) == WORKERS and victim not in pids,
                                        timeout=20, what="gunicorn to replace the killed worker")
            await asyncio.sleep(2.0)  # load goes on with the new worker serving
            stop.set()
            await asyncio.wait_for(asyncio.gather(*flows), timeout=60)  # each request: answered within 45 s
        finally:
            stop.set()
            for task in flows:
                task.cancel()
            await asyncio.gather(*flows, return_exceptions=True)

    observe("kill", keys=len(answered), paid=len(paid), replays=replays["purchase"], seen=client.seen,
            held_by_the_killed_worker=len(held))
    assert server.service.process.poll() is None and len(replaced - before) == 1
    assert client.seen["5xx"] == 0, client.seen
    assert len(paid) == len(answered) > 0
    if held:  # the claims the killed worker held were taken over once their lease ran out, and answered
        assert held <= set(answered) and client.seen["in_progress"] > 0

    # No idempotency key of these users is left in flight: each was completed (answered) or released.
    keys = server.sql("SELECT key, response_status, locked_until FROM idempotency_keys WHERE user_id = ANY(%s)",
                      users)
    assert {key for key, _, _ in keys} == set(answered)
    assert [(key, status, lease) for key, status, lease in keys if status is None or lease is not None] == []

    # Every payment the client made was credited exactly once; nothing else was credited.
    transactions = dict(server.sql("SELECT id, status FROM membership_transactions WHERE user_id = ANY(%s)", users))
    assert {transactions[tid] for tid in paid} == {"succeeded"}
    succeeded = server.sql("SELECT id, receives FROM membership_transactions WHERE user_id = ANY(%s) "
                           "AND status = 'succeeded' AND type = 'purchase_receives'", users)
    assert dict(succeeded) == paid
    credits = Counter(dict(server.sql(
        "SELECT reference, count(*) FROM receives_ledger WHERE kind = 'purchase' AND user_id = ANY(%s) "
        "GROUP BY reference", users)))
    assert credits == Counter({tid: 1 for tid in paid})
    ((purchased,),) = server.sql("SELECT coalesce(sum(purchased_remaining), 0) FROM memberships "
                                 "WHERE user_id = ANY(%s)", users)
    assert purchased == sum(paid.values())
    assert server.sql("SELECT count(*) FROM payment_refunds WHERE user_id = ANY(%s)", users) == [(0,)]
    # A purchase the killed worker had committed but never answered was resumed by its retry.
    orphans = {tid: status for tid, status in transactions.items() if tid not in paid}
    observe("kill", unanswered_transactions=orphans)
    assert orphans == {}
