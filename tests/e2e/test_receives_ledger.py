"""GET /api/v1/payments/receives/ledger through a real server, on the in-memory adapters, SQLite and
PostgreSQL: items in the contract's shape, newest first; the deltas add up to the balance that
GET /membership shows, and each `balance_after` is the running sum, across an allowance period
change, a purchase, consumptions and an upgrade; pages and cursors; a user with no membership
gets an empty list and no row is written; bad input is 422 and the token is required."""
from __future__ import annotations

from datetime import timedelta

import pytest
from e2e_support import RECEIVES, buy, change_plan, consume, error_of, is_int, is_timestamp, membership, ok, pay
from stored_api import row_count, storage, stored_api  # noqa: F401 - fixtures

from adapters.sql.tables import memberships, receives_ledger

LEDGER = f"{RECEIVES}/ledger"
LINE_KEYS = {"id", "kind", "delta", "balance_after", "transaction_id", "reference", "created_at"}
KINDS = {"allowance_grant", "allowance_expiry", "purchase", "consumption", "refund_hold", "refund_release"}


async def ledger(api, user: str = "u1", **params) -> dict:
    body = await ok(await api.get(LEDGER, params={k: str(v) for k, v in params.items()}, user=user))
    for line in body["items"]:
        assert set(line) == LINE_KEYS, line
        assert line["kind"] in KINDS and isinstance(line["id"], str) and line["id"]
        assert is_int(line["delta"]) and line["delta"] != 0 and is_int(line["balance_after"])
        assert line["transaction_id"] is None or line["transaction_id"].startswith("txn_")
        assert isinstance(line["reference"], str) and is_timestamp(line["created_at"])
    return body


async def consumed(api, count: int, reference: str, user: str = "u1") -> None:
    assert (await consume(api, user, count, reference)).status == 200


async def a_history(api, clock) -> str:
    """u1: the basic allowance, buys 10 (paid), consumes 4, a new period, consumes 1, upgrades to
    pro (paid), consumes 6. Returns the purchase's transaction id."""
    bought = await buy(api, 10)
    await pay(api, bought["session"])
    await consumed(api, 4, "match-1")
    clock.advance(timedelta(days=31))
    await consumed(api, 1, "match-2")
    status, started = await change_plan(api, "pro", "alipay")
    assert status == 201, started
    await pay(api, started["session"])
    await consumed(api, 6, "match-3")
    return bought["transaction"]["id"]


async def test_the_deltas_add_up_to_the_balance_and_each_balance_after_is_the_running_sum(stored_api, clock):
    purchase = await a_history(stored_api, clock)

    lines = (await ledger(stored_api, limit=100))["items"]
    balance = (await membership(stored_api))["receives"]["balance"]

    assert sum(line["delta"] for line in lines) == balance == lines[0]["balance_after"]
    running = 0
    for line in reversed(lines):  # oldest first
        running += line["delta"]
        assert line["balance_after"] == running, line
    assert {line["kind"] for line in lines} == {"allowance_grant", "allowance_expiry", "purchase", "consumption"}
    [bought] = [line for line in lines if line["kind"] == "purchase"]
    assert (bought["delta"], bought["transaction_id"]) == (10, purchase)
    assert [line["reference"] for line in lines if line["kind"] == "consumption"][0] == "match-3"
    assert all(line["transaction_id"] is None for line in lines if line["kind"] != "purchase")
    created = [line["created_at"] for line in lines]
    assert created == sorted(created, reverse=True)  # newest first
    assert len({line["id"] for line in lines}) == len(lines)


async def test_pages_and_cursors(stored_api, clock):
    await a_history(stored_api, clock)
    whole = (await ledger(stored_api, limit=100))["items"]

    first = await ledger(stored_api, limit=3)
    rest = await ledger(stored_api, starting_after=first["items"][-1]["id"], limit=3)
    last = await ledger(stored_api, starting_after=rest["next_cursor"], limit=100)

    assert set(first) == {"items", "page", "limit", "total", "has_more"}
    assert (first["page"], first["limit"], first["total"], first["has_more"]) == (1, 3, len(whole), True)
    assert set(rest) == {"items", "has_more", "next_cursor"}
    assert (rest["has_more"], rest["next_cursor"]) == (True, rest["items"][-1]["id"])
    assert first["items"] + rest["items"] + last["items"] == whole
    assert (last["has_more"], last["next_cursor"]) == (False, None)
    assert (await ledger(stored_api, page=2, limit=3))["items"] == rest["items"]


async def test_the_ledger_follows_new_entries(stored_api, clock):
    await a_history(stored_api, clock)
    before = (await ledger(stored_api, limit=100))["items"]

    await consumed(stored_api, 2, "match-4")
    after = (await ledger(stored_api, limit=100))["items"]

    assert after[1:] == before  # ids and figures of the older lines unchanged
    assert (after[0]["kind"], after[0]["delta"], after[0]["reference"]) == ("consumption", -2, "match-4")
    assert after[0]["balance_after"] == before[0]["balance_after"] - 2 == (
        await membership(stored_api))["receives"]["balance"]


async def test_no_membership_an_empty_list_and_nothing_written(stored_api, storage):
    body = await ledger(stored_api, "newcomer")

    assert body == {"items": [], "page": 1, "limit": 20, "total": 0, "has_more": False}
    if storage is not None:
        assert (row_count(storage, memberships), row_count(storage, receives_ledger)) == (0, 0)
    else:
        assert await stored_api.container.adapters.queries().membership("newcomer") is None


async def test_someone_elses_line_is_not_a_cursor(stored_api, clock):
    await a_history(stored_api, clock)
    await buy(stored_api, 1, user="u2")
    await membership(stored_api, "u2")
    others = (await ledger(stored_api, "u2"))["items"][0]["id"]

    for cursor in (others, "rle_99999999", "nonsense", ""):
        error = await error_of(await stored_api.get(LEDGER, params={"starting_after": cursor}), 422,
                               "validation_error")
        assert error["details"] == {"starting_after": ["Must be the id of one of your items in this list."]}


@pytest.mark.parametrize("params, field", [
    ({"page": "0"}, "page"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
    ({"page": "2", "starting_after": "rle_1"}, "starting_after"), ({"kind": "purchase"}, "kind"),
])
async def test_bad_input_is_refused(stored_api, params, field):
    error = await error_of(await stored_api.get(LEDGER, params=params), 422, "validation_error")

    assert set(error["details"]) == {field}


async def test_the_token_is_required(stored_api):
    await error_of(await stored_api.get(LEDGER, user=None), 401, "unauthorized")
