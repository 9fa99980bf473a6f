"""Cursor pagination of GET /api/v1/payments/transactions through a real server, on the in-memory
adapters, SQLite and PostgreSQL: the plain call is the contract's numbered page; `starting_after`
answers exactly `{"items", "has_more", "next_cursor"}`; chained cursors walk the history once while
new purchases arrive; filters combine with the cursor; `page` beside it, or a cursor that is not
one of the caller's transactions, is 422 `validation_error` with details on `starting_after`."""
from __future__ import annotations

from datetime import timedelta

import pytest
from e2e_support import PAGE_KEYS, TRANSACTIONS, assert_transaction, buy, error_of, ok, pay
from stored_api import storage, stored_api  # noqa: F401 - fixtures

CURSOR_KEYS = {"items", "has_more", "next_cursor"}


async def listed(api, user: str = "u1", **params) -> dict:
    body = await ok(await api.get(TRANSACTIONS, params={k: str(v) for k, v in params.items()}, user=user))
    for item in body["items"]:
        assert_transaction(item)
    return body


async def after(api, cursor: str, user: str = "u1", **params) -> dict:
    body = await listed(api, user, starting_after=cursor, **params)
    assert set(body) == CURSOR_KEYS, body
    return body


def item_ids(body: dict) -> list[str]:
    return [t["id"] for t in body["items"]]


async def purchases(api, clock, count: int, user: str = "u1") -> list[str]:
    """`count` purchases a minute apart (the even ones paid), newest first."""
    made = []
    for n in range(count):
        bought = await buy(api, n + 1, user=user)
        if n % 2 == 0:
            await pay(api, bought["session"])
        made.append(bought["transaction"]["id"])
        clock.advance(timedelta(minutes=1))
    return made[::-1]


async def test_a_cursor_answers_the_next_transactions_and_the_next_cursor(stored_api, clock):
    made = await purchases(stored_api, clock, 5)

    first = await listed(stored_api, limit=2)
    second = await after(stored_api, first["items"][-1]["id"], limit=2)
    third = await after(stored_api, second["next_cursor"], limit=2)

    assert set(first) == PAGE_KEYS and (first["page"], first["total"], first["has_more"]) == (1, 5, True)
    assert (item_ids(first), item_ids(second), item_ids(third)) == (made[:2], made[2:4], made[4:])
    assert (second["has_more"], second["next_cursor"]) == (True, made[3])
    assert (third["has_more"], third["next_cursor"]) == (False, None)
    assert await after(stored_api, made[4]) == {"items": [], "has_more": False, "next_cursor": None}


async def test_the_walk_is_stable_while_new_purchases_arrive(stored_api, clock):
    made = await purchases(stored_api, clock, 4)
    first = await listed(stored_api, limit=2)
    await purchases(stored_api, clock, 1)  # a newer one, between two calls

    rest = await after(stored_api, first["items"][-1]["id"], limit=10)
    second_page = await listed(stored_api, limit=2, page=2)

    assert item_ids(first) + item_ids(rest) == made
    assert item_ids(second_page) == [made[1], made[2]]  # where numbered pages repeat an item


async def test_filters_combine_with_the_cursor(stored_api, clock):
    made = await purchases(stored_api, clock, 5)

    paid = await after(stored_api, made[0], status="succeeded")
    pending = await after(stored_api, made[0], status="pending", limit=1)
    ranged = await after(stored_api, made[0], type="purchase_receives", date_to=(clock.now() - timedelta(minutes=3))
                         .isoformat().replace("+00:00", "Z"))

    assert (item_ids(paid), paid["has_more"]) == ([made[2], made[4]], False)
    assert (item_ids(pending), pending["has_more"], pending["next_cursor"]) == ([made[1]], True, made[1])
    assert item_ids(ranged) == made[2:]


async def test_page_and_starting_after_together_are_refused(stored_api, clock):
    made = await purchases(stored_api, clock, 2)

    error = await error_of(await stored_api.get(TRANSACTIONS, params={"page": "1", "starting_after": made[0]}),
                           422, "validation_error")

    assert error["details"] == {"starting_after": ["Cannot be combined with page."]}


@pytest.mark.parametrize("cursor", ["OTHER_USERS", "txn_000000000000000000000000", "", "txn_%00"])
async def test_a_cursor_that_is_not_one_of_the_callers_transactions_is_refused(stored_api, clock, cursor):
    await purchases(stored_api, clock, 2)
    others = (await purchases(stored_api, clock, 1, user="u2"))[0]

    response = await stored_api.get(TRANSACTIONS, params={"starting_after": others if cursor == "OTHER_USERS"
                                                          else cursor.replace("%00", "\x00")})

    error = await error_of(response, 422, "validation_error")
    assert set(error["details"]) == {"starting_after"}, error


async def test_limit_is_checked_beside_a_cursor(stored_api, clock):
    made = await purchases(stored_api, clock, 2)

    error = await error_of(await stored_api.get(TRANSACTIONS, params={"limit": "101", "starting_after": made[0]}),
                           422, "validation_error")

    assert set(error["details"]) == {"limit"}
