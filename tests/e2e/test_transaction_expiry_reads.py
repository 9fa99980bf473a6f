"""Transactions read as the contract says, through a real server with no sweep running, on the
in-memory adapters, SQLite and PostgreSQL: a pending transaction whose sessions have all lapsed
reads `expired` at once in GET /transactions/{id}, in GET /transactions and in its filters
(status=expired includes it, status=pending leaves it out), with `updated_at` the moment its last
session lapsed and `completed_at` null; one with a session still open stays pending; the sweep
later stores the same status, and a late payment still succeeds it."""
from __future__ import annotations

from datetime import timedelta

from e2e_support import SESSIONS, TRANSACTIONS, assert_transaction, buy, ok, parse_timestamp, pay, transaction
from stored_api import storage, stored_api  # noqa: F401 - fixtures

from entrypoints.http.keys import USE_CASES


async def statuses(api, **params) -> dict[str, str]:
    body = await ok(await api.get(TRANSACTIONS, params=params))
    return {assert_transaction(t)["id"]: t["status"] for t in body["items"]}


async def test_a_lapsed_pending_transaction_reads_expired_at_once(stored_api, clock):
    bought = await buy(stored_api, 3)
    txn, expires_at = bought["transaction"]["id"], bought["session"]["expires_at"]
    clock.advance(timedelta(hours=1, seconds=1))  # past the session's expires_at; no sweep has run

    read = await transaction(stored_api, txn)
    listed = (await ok(await stored_api.get(TRANSACTIONS)))["items"]

    assert read["transaction"]["status"] == "expired" and read["sessions"][0]["status"] == "expired"
    assert (read["transaction"]["updated_at"], read["transaction"]["completed_at"]) == (expires_at, None)
    assert [(t["id"], t["status"], t["updated_at"]) for t in listed] == [(txn, "expired", expires_at)]
    assert await statuses(stored_api, status="expired") == {txn: "expired"}
    assert await statuses(stored_api, status="pending") == {}
    assert await statuses(stored_api, status="pending,expired") == {txn: "expired"}
    assert (await ok(await stored_api.get(TRANSACTIONS, params={"status": "expired"})))["total"] == 1


async def test_a_transaction_with_a_session_still_open_stays_pending_until_that_one_lapses(stored_api, clock):
    bought = await buy(stored_api, 3)
    txn = bought["transaction"]["id"]
    clock.advance(timedelta(minutes=50))
    second = await ok(await stored_api.post(SESSIONS, {"transaction_id": txn, "payment_method": "alipay"}), 201)
    clock.advance(timedelta(minutes=20))  # the first session lapsed, the second is open

    assert (await transaction(stored_api, txn))["transaction"]["status"] == "pending"
    assert await statuses(stored_api, status="pending") == {txn: "pending"}
    assert await statuses(stored_api, status="expired") == {}

    clock.advance(parse_timestamp(second["expires_at"]) - clock.now())  # the second's expires_at: lapsed
    read = (await transaction(stored_api, txn))["transaction"]
    assert (read["status"], read["updated_at"]) == ("expired", second["expires_at"])
    assert await statuses(stored_api, status="expired") == {txn: "expired"}


async def test_the_sweep_stores_what_was_read_and_a_late_payment_still_succeeds(stored_api, clock):
    bought = await buy(stored_api, 3)
    txn = bought["transaction"]["id"]
    clock.advance(timedelta(hours=2))
    before = (await transaction(stored_api, txn))["transaction"]

    await stored_api.client.server.app[USE_CASES].expire_sessions()  # what the background job runs
    swept = (await transaction(stored_api, txn))["transaction"]

    assert before["status"] == swept["status"] == "expired"
    assert parse_timestamp(swept["updated_at"]) >= parse_timestamp(before["updated_at"])
    await pay(stored_api, bought["session"])  # a confirmed payment is never lost
    assert (await transaction(stored_api, txn))["transaction"]["status"] == "succeeded"
    assert await statuses(stored_api, status="expired") == {}
