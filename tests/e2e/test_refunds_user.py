"""The user's refund endpoints through HTTP (the real app on a real test server, the mock provider):
quote, request, list, get, cancel, refunds on the transaction detail, and each error row of the
contract (409 `not_refundable` saying which rule, `refund_in_progress`, `invalid_state`, 404 for
someone else's, 422 for bad input)."""
from __future__ import annotations

from datetime import timedelta

from e2e_support import (
    buy,
    change_plan,
    consume,
    error_of,
    membership,
    ok,
    parse_timestamp,
    pay,
    transaction,
)

REFUNDS = "/api/v1/payments/refunds"
ADMIN = "/api/v1/admin/refunds"
REFUND_FIELDS = {"id", "transaction_id", "order_id", "kind", "status", "amount", "currency", "receives", "ends_plan",
                 "reason", "requested_by", "reviewed_by", "review_note", "failure_reason", "created_at",
                 "reviewed_at", "completed_at"}


async def paid_purchase(api, amount: int = 10, user: str = "u1") -> str:
    bought = await buy(api, amount, user=user)
    await pay(api, bought["session"])
    return bought["transaction"]["id"]


async def ask(api, transaction_id: str, receives: int | None = None, user: str = "u1"):
    body = {"transaction_id": transaction_id, "reason": "bought by mistake"}
    if receives is not None:
        body["receives"] = receives
    return await api.post(REFUNDS, body, user=user)


async def test_a_quote_says_what_a_request_would_be_for(api):
    txn = await paid_purchase(api)

    quote = await ok(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn, "receives": "3"}))
    everything = await ok(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn}))

    assert quote == {"transaction_id": txn, "amount": 510, "currency": "CNY", "receives": 3, "ends_plan": False}
    assert (everything["amount"], everything["receives"]) == (1700, 10)
    assert (await ok(await api.get(REFUNDS)))["total"] == 0  # nothing stored


async def test_a_request_is_a_requested_refund_that_holds_its_receives(api):
    txn = await paid_purchase(api)

    made = await ok(await ask(api, txn, 4), 201)

    assert set(made) == REFUND_FIELDS
    assert (made["kind"], made["status"], made["amount"], made["currency"], made["receives"]) == (
        "requested", "requested", 680, "CNY", 4)
    assert made["id"].startswith("rf_") and 6 <= len(made["order_id"]) <= 32 and made["order_id"].isalnum()
    assert (made["requested_by"], made["reviewed_by"], made["ends_plan"]) == ("u1", None, False)
    parse_timestamp(made["created_at"])
    assert (await membership(api))["receives"]["purchased_remaining"] == 6
    ledger = await ok(await api.get("/api/v1/payments/receives/ledger"))
    assert ledger["items"][0]["kind"] == "refund_hold" and ledger["items"][0]["delta"] == -4
    assert ledger["items"][0]["transaction_id"] == txn


async def test_list_get_and_the_transaction_detail_show_it_and_nobody_else_sees_it(api):
    txn = await paid_purchase(api)
    made = await ok(await ask(api, txn, 2), 201)

    listed = await ok(await api.get(REFUNDS, params={"status": "requested"}))
    assert [r["id"] for r in listed["items"]] == [made["id"]]
    assert (listed["page"], listed["limit"], listed["total"], listed["has_more"]) == (1, 20, 1, False)
    assert (await ok(await api.get(REFUNDS, params={"status": "succeeded"})))["items"] == []
    assert await ok(await api.get(f"{REFUNDS}/{made['id']}")) == made
    assert (await transaction(api, txn))["refunds"] == [made]
    await error_of(await api.get(f"{REFUNDS}/{made['id']}", user="u2"), 404, "not_found")
    assert (await ok(await api.get(REFUNDS, user="u2")))["items"] == []
    await error_of(await api.post(f"{REFUNDS}/{made['id']}/cancel", user="u2"), 404, "not_found")


async def test_cancelling_gives_the_receives_back_and_only_once(api):
    txn = await paid_purchase(api)
    made = await ok(await ask(api, txn, 4), 201)

    cancelled = await ok(await api.post(f"{REFUNDS}/{made['id']}/cancel"))

    assert (cancelled["status"], parse_timestamp(cancelled["completed_at"]) is not None) == ("cancelled", True)
    assert (await membership(api))["receives"]["purchased_remaining"] == 10
    ledger = await ok(await api.get("/api/v1/payments/receives/ledger"))
    assert [(i["kind"], i["delta"]) for i in ledger["items"][:2]] == [("refund_release", 4), ("refund_hold", -4)]
    error = await error_of(await api.post(f"{REFUNDS}/{made['id']}/cancel"), 409, "invalid_state")
    assert "cancelled" in error["message"]


async def test_one_open_refund_per_transaction(api):
    txn = await paid_purchase(api)
    await ok(await ask(api, txn, 2), 201)

    await error_of(await ask(api, txn, 2), 409, "refund_in_progress")
    await error_of(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn}), 409, "refund_in_progress")


async def test_what_cannot_be_refunded_is_refused_saying_which_rule(api):
    pending = (await buy(api, 5))["transaction"]["id"]
    error = await error_of(await ask(api, pending), 409, "not_refundable")
    assert "pending" in error["message"]

    txn = await paid_purchase(api, 10)
    assert (await consume(api, "u1", 3 + 8, "match-1")).status == 200  # the allowance, then 8 purchased
    error = await error_of(await ask(api, txn, 3), 409, "not_refundable")
    assert "already used" in error["message"]
    error = await error_of(await ask(api, txn, 11), 409, "not_refundable")
    assert "Only 10 receives of this purchase are left to refund" in error["message"]


async def test_the_refund_window_binds_users(make_api, clock):
    api = await make_api(clock=clock, PAYMENTS_REFUND_WINDOW_DAYS="7")
    txn = await paid_purchase(api)
    clock.advance(timedelta(days=7, seconds=1))

    error = await error_of(await ask(api, txn), 409, "not_refundable")
    assert "window of 7 days" in error["message"]


async def test_someone_elses_or_an_unknown_transaction_is_not_found(api):
    txn = await paid_purchase(api)
    await error_of(await ask(api, txn, user="u2"), 404, "not_found")
    await error_of(await ask(api, "txn_unknown"), 404, "not_found")
    await error_of(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn}, user="u2"), 404, "not_found")


async def test_bad_input_is_a_validation_error(api):
    txn = await paid_purchase(api)
    for body, field in (({"transaction_id": txn}, "reason"), ({"transaction_id": txn, "reason": ""}, "reason"),
                        ({"transaction_id": txn, "reason": "x" * 501}, "reason"),
                        ({"transaction_id": txn, "reason": "r", "receives": 0}, "receives"),
                        ({"transaction_id": txn, "reason": "r", "receives": "2"}, "receives"),
                        ({"transaction_id": txn, "reason": "r", "amount": 5}, "amount")):
        error = await error_of(await api.post(REFUNDS, body), 422, "validation_error")
        assert field in error["details"], (body, error)
    await error_of(await api.get(f"{REFUNDS}/quote"), 422, "validation_error")
    await error_of(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn, "receives": "x"}), 422,
                   "validation_error")
    await error_of(await api.get(REFUNDS, params={"status": "pending"}), 422, "validation_error")
    await error_of(await api.get(REFUNDS, params={"colour": "red"}), 422, "validation_error")
    await error_of(await api.get(REFUNDS, user=None), 401, "unauthorized")


async def test_a_plan_refund_is_priced_by_the_unused_share_and_ends_the_plan_when_approved(make_api, clock):
    api = await make_api(clock=clock)
    status, started = await change_plan(api, "pro")
    assert status == 201
    await pay(api, started["session"])
    clock.advance(timedelta(days=10))
    txn = started["transaction"]["id"]

    quote = await ok(await api.get(f"{REFUNDS}/quote", params={"transaction_id": txn}))
    made = await ok(await ask(api, txn), 201)
    assert (made["ends_plan"], made["receives"], made["amount"]) == (True, None, quote["amount"])
    assert 0 < made["amount"] < 2900
    approved = await ok(await api.post(f"{ADMIN}/{made['id']}/approve", {}, user="admin1", role="admin"))

    assert approved["status"] == "processing"
    assert (await membership(api))["plan"] == "basic"
    detail = await transaction(api, txn)
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == (
        "partially_refunded", made["amount"])
    assert detail["refunds"][0]["status"] == "succeeded"


async def test_the_list_goes_on_after_a_cursor(make_api, clock):
    api = await make_api(clock=clock)
    made = []
    for _ in range(3):
        made.append(await ok(await ask(api, await paid_purchase(api)), 201))
        clock.advance(timedelta(minutes=1))

    first = await ok(await api.get(REFUNDS, params={"limit": "2"}))
    assert [r["id"] for r in first["items"]] == [made[2]["id"], made[1]["id"]] and first["has_more"]
    after = await ok(await api.get(REFUNDS, params={"starting_after": made[1]["id"], "limit": "2"}))
    assert after == {"items": [made[0]], "has_more": False, "next_cursor": None}
    await error_of(await api.get(REFUNDS, params={"starting_after": made[1]["id"], "page": "1"}), 422,
                   "validation_error")
    await error_of(await api.get(REFUNDS, params={"starting_after": made[1]["id"]}, user="u2"), 422,
                   "validation_error")
