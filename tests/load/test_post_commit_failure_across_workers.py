"""A failure after commit, across processes: `payments serve --workers 4` on a fresh PostgreSQL
database whose `payment_sessions` refuse (by a trigger, while a switch is on) the update that
attaches a provider's payment instructions, as a database that fails at that moment would. The
purchase was committed and its provider order opened; only the instructions are lost.

1. Every purchase answers 500 `internal_error`, and the same key again, still failing, runs again
   (a 5xx is not kept: not replayed for 24 hours).
2. Once the database is back, the retry with the same key resumes the purchase: 201 with the same
   transaction and session (its ids derive from the key), now with a `payment_url`; replayed after.
3. The sessions of the clients that never retry are completed by the reconciler at their due
   check (their provider order opened again under the same order id): none stays open without
   instructions. No user ever holds a second transaction.
"""
from __future__ import annotations

import asyncio
import secrets

import aiohttp
import pytest

from live import eventually, serve_process
from load_support import RECEIVES, observe, post_once, sql

pytestmark = pytest.mark.postgres

WORKERS = 4
USERS = 24
FAULT = """
CREATE TABLE test_attach_fault (active boolean NOT NULL);
INSERT INTO test_attach_fault VALUES (true);
CREATE FUNCTION test_fail_attach() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.payment_url IS NULL AND NEW.payment_url IS NOT NULL AND (SELECT active FROM test_attach_fault) THEN
        RAISE EXCEPTION 'injected: the database failed while the instructions were attached';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_fail_attach BEFORE UPDATE ON payment_sessions
    FOR EACH ROW EXECUTE FUNCTION test_fail_attach();
"""


async def test_a_failure_after_commit_is_resumed_by_the_retry_or_completed_by_the_reconciler(
        postgres_database_factory, tmp_path):
    database_url = postgres_database_factory("postcommit")
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http, \
            serve_process(http, tmp_path, workers=WORKERS, PAYMENTS_DATABASE_URL=database_url,
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32)) as service:
        sql(database_url, FAULT)
        users = [f"postcommit-{n}-{secrets.token_hex(3)}" for n in range(USERS)]
        keys = {user: f"key-{secrets.token_hex(8)}" for user in users}
        body = {"amount": 10, "payment_method": "mock"}

        async def purchase(user: str):
            headers = {"Authorization": f"Bearer {service.token(user)}", "Idempotency-Key": keys[user]}
            return await post_once(http, service.url(RECEIVES), json_body=body, headers=headers)

        # 1. Every purchase commits, opens its order, and fails storing the instructions: a 500
        # that is not kept, so the same key runs again (and fails again while the fault lasts).
        failed = await asyncio.gather(*(purchase(user) for user in users))
        assert {(a.status, a.code, a.replayed) for a in failed} == {(500, "internal_error", False)}, failed[:3]
        again = await asyncio.gather(*(purchase(user) for user in users[:4]))
        assert {(a.status, a.code, a.replayed) for a in again} == {(500, "internal_error", False)}, again
        stranded = sql(database_url, "SELECT user_id, transaction_id, id FROM payment_sessions "
                                     "WHERE status = 'open' AND payment_url IS NULL")
        assert sorted(row[0] for row in stranded) == sorted(users)  # one session each, no second one
        committed = {row[0]: (row[1], row[2]) for row in stranded}

        # 2. The database is back: the retry resumes the purchase it committed.
        sql(database_url, "UPDATE test_attach_fault SET active = false")
        retrying, abandoned = users[:USERS // 2], users[USERS // 2:]
        resumed = await asyncio.gather(*(purchase(user) for user in retrying))
        for user, answer in zip(retrying, resumed):
            assert (answer.status, answer.replayed) == (201, False), answer
            payment = answer.json()
            assert (payment["transaction"]["id"], payment["session"]["id"]) == committed[user]
            assert payment["session"]["status"] == "open" and payment["session"]["payment_url"]
        replayed = await asyncio.gather(*(purchase(user) for user in retrying))
        assert all(a.replayed and a.body == r.body for a, r in zip(replayed, resumed))

        # 3. Nobody retries for the others: their due check (brought forward here, it comes a minute
        # after the session opened) opens the order again and stores the instructions.
        sql(database_url, "UPDATE payment_sessions SET next_check_at = now() WHERE user_id = ANY(%s)", abandoned)

        async def still_stranded() -> list[tuple]:
            await asyncio.sleep(0.25)
            return sql(database_url, "SELECT id FROM payment_sessions WHERE status = 'open' AND payment_url IS NULL")

        await eventually(still_stranded, lambda rows: rows == [], timeout=40,
                         what="the reconciler to complete every session left without instructions")
        per_user = sql(database_url, "SELECT user_id, count(*) FROM membership_transactions GROUP BY user_id")
        assert sorted(per_user) == sorted((user, 1) for user in users)
        sessions = sql(database_url, "SELECT user_id, status, payment_url IS NOT NULL FROM payment_sessions")
        assert sorted(sessions) == sorted((user, "open", True) for user in users)
        observe("post_commit_failure", users=USERS, failed=len(failed), resumed=len(resumed),
                completed_by_reconciler=len(abandoned))
