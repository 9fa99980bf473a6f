"""GET /api/v1/payments/transactions and /transactions/{id}: history, filters, pagination, one
transaction with its sessions."""
from datetime import datetime, timedelta, timezone

import pytest

from e2e_support import (
    CANCEL,
    PAGE_KEYS,
    TRANSACTIONS,
    assert_session,
    assert_transaction,
    buy,
    change_plan,
    error_of,
    ok,
)


async def listed(api, user: str = "u1", **params) -> dict:
    body = await ok(await api.get(TRANSACTIONS, user=user, params=params))
    assert set(body) == PAGE_KEYS
    for item in body["items"]:
        assert_transaction(item)
    return body


def ids(page: dict) -> list[str]:
    return [t["id"] for t in page["items"]]


async def test_a_new_user_has_an_empty_first_page(api):
    assert await listed(api) == {"items": [], "page": 1, "limit": 20, "total": 0, "has_more": False}


async def test_transactions_are_listed_newest_first(fixed_api, clock):
    created = []
    for amount in (1, 2, 3):
        created.append((await buy(fixed_api, amount))["transaction"]["id"])
        clock.advance(timedelta(minutes=1))

    page = await listed(fixed_api)

    assert ids(page) == created[::-1]
    assert [t["receives"] for t in page["items"]] == [3, 2, 1]
    assert (page["total"], page["has_more"]) == (3, False)


async def test_pages_split_the_list_and_say_whether_more_follow(fixed_api, clock):
    created = []
    for _ in range(5):
        created.append((await buy(fixed_api, 1))["transaction"]["id"])
        clock.advance(timedelta(seconds=1))
    newest_first = created[::-1]

    first = await listed(fixed_api, limit="2")
    second = await listed(fixed_api, limit="2", page="2")
    third = await listed(fixed_api, limit="2", page="3")
    beyond = await listed(fixed_api, limit="2", page="4")

    assert (ids(first), first["page"], first["limit"], first["total"], first["has_more"]) == (
        newest_first[0:2], 1, 2, 5, True)
    assert (ids(second), second["page"], second["has_more"]) == (newest_first[2:4], 2, True)
    assert (ids(third), third["page"], third["has_more"]) == (newest_first[4:], 3, False)
    assert (ids(beyond), beyond["total"], beyond["has_more"]) == ([], 5, False)


async def test_a_user_sees_only_their_own_transactions(api):
    mine = await buy(api, 1, user="u1")
    await buy(api, 2, user="u2")

    assert ids(await listed(api, user="u1")) == [mine["transaction"]["id"]]


@pytest.fixture
async def history(fixed_api, clock):
    """u1's transactions: a pending purchase, a cancelled purchase and a pending upgrade."""
    pending = (await buy(fixed_api, 1))["transaction"]["id"]
    clock.advance(timedelta(minutes=1))
    cancelled = (await buy(fixed_api, 2))["transaction"]["id"]
    await ok(await fixed_api.post(CANCEL, {"transaction_id": cancelled}))
    clock.advance(timedelta(minutes=1))
    _, started = await change_plan(fixed_api, "pro", "alipay")
    return {"pending": pending, "cancelled": cancelled, "upgrade": started["transaction"]["id"]}


@pytest.mark.parametrize(("query", "expected"), [
    ("type=plan_upgrade", ["upgrade"]),
    ("type=purchase_receives", ["cancelled", "pending"]),
    ("type=purchase_receives&type=plan_upgrade", ["upgrade", "cancelled", "pending"]),
    ("type=purchase_receives,plan_upgrade", ["upgrade", "cancelled", "pending"]),
    ("type=plan_downgrade", []),
    ("status=cancelled", ["cancelled"]),
    ("status=pending", ["upgrade", "pending"]),
    ("status=pending&status=cancelled", ["upgrade", "cancelled", "pending"]),
    ("status=succeeded,cancelled", ["cancelled"]),
    ("status=pending&type=purchase_receives", ["pending"]),
    ("type=plan_upgrade,plan_downgrade&status=cancelled", []),
])
async def test_type_and_status_filters_repeat_or_separate_with_commas(fixed_api, history, query, expected):
    body = await ok(await fixed_api.get(f"{TRANSACTIONS}?{query}"))

    assert ids(body) == [history[name] for name in expected]
    assert body["total"] == len(expected)


@pytest.fixture
async def dated(fixed_api, clock):
    """u1's transactions created at 2026-03-01 10:00, 2026-03-02 23:59:59 and 2026-03-03 00:00 UTC."""
    made = {}
    for name, moment in (("first", datetime(2026, 3, 1, 10, tzinfo=timezone.utc)),
                         ("second", datetime(2026, 3, 2, 23, 59, 59, tzinfo=timezone.utc)),
                         ("third", datetime(2026, 3, 3, tzinfo=timezone.utc))):
        clock.set(moment)
        made[name] = (await buy(fixed_api, 1))["transaction"]["id"]
    return made


@pytest.mark.parametrize(("params", "expected"), [
    ({"date_from": "2026-03-02"}, ["third", "second"]),
    ({"date_to": "2026-03-02"}, ["second", "first"]),  # a date includes that whole day
    ({"date_from": "2026-03-02", "date_to": "2026-03-02"}, ["second"]),
    ({"date_from": "2026-03-04"}, []),
    ({"date_to": "2026-02-28"}, []),
    ({"date_from": "2026-03-02T23:59:59Z"}, ["third", "second"]),  # inclusive
    ({"date_to": "2026-03-01T10:00:00Z"}, ["first"]),  # inclusive
    ({"date_from": "2026-03-01T10:00:01Z", "date_to": "2026-03-02T23:59:59Z"}, ["second"]),
    ({"date_from": "2026-03-03T08:00:00+08:00"}, ["third"]),  # = 2026-03-03T00:00:00Z
    ({"date_to": "2026-03-02T19:59:59-04:00"}, ["second", "first"]),  # = 2026-03-02T23:59:59Z
    ({"date_to": "2026-03-01T09:59:59Z"}, []),
    ({"date_from": "2026-03-01T10:00:00"}, ["third", "second", "first"]),  # no offset means UTC
])
async def test_date_filters_take_dates_and_date_times_inclusively(fixed_api, dated, params, expected):
    body = await ok(await fixed_api.get(TRANSACTIONS, params=params))

    assert ids(body) == [dated[name] for name in expected]


async def test_a_date_from_after_date_to_matches_nothing(fixed_api, dated):
    body = await ok(await fixed_api.get(TRANSACTIONS, params={"date_from": "2026-03-03", "date_to": "2026-03-01"}))

    assert (body["items"], body["total"]) == ([], 0)


@pytest.mark.parametrize(("query", "field"), [
    ("type=refund", "type"),
    ("type=purchase_receives,bogus", "type"),
    ("status=done", "status"),
    ("status=pending&status=PENDING", "status"),
    ("date_from=yesterday", "date_from"),
    ("date_from=2026-02-30", "date_from"),
    ("date_to=2026-13-01", "date_to"),
    ("date_to=2026-03-01T25:00:00Z", "date_to"),
    ("date_from=1700000000", "date_from"),
    ("page=0", "page"),
    ("page=-1", "page"),
    ("page=abc", "page"),
    ("page=1.5", "page"),
    ("limit=0", "limit"),
    ("limit=101", "limit"),
    ("limit=ten", "limit"),
])
async def test_a_bad_filter_or_pagination_value_is_a_validation_error_never_clamped(api, query, field):
    response = await api.get(f"{TRANSACTIONS}?{query}")

    error = await error_of(response, 422, "validation_error")
    assert any(key == field or key.startswith(f"{field}[") or key.startswith(f"{field}.")
               for key in error["details"]), error


async def test_the_limit_accepts_its_bounds(api):
    assert (await listed(api, limit="1"))["limit"] == 1
    assert (await listed(api, limit="100"))["limit"] == 100


async def test_one_transaction_answers_with_all_its_sessions(fixed_api, clock):
    bought = await buy(fixed_api, 10)
    clock.advance(timedelta(minutes=1))
    retry = await ok(await fixed_api.post("/api/v1/payments/sessions",
                                          {"transaction_id": bought["transaction"]["id"]}), 201)

    body = await ok(await fixed_api.get(f"{TRANSACTIONS}/{bought['transaction']['id']}"))

    assert set(body) == {"transaction", "sessions", "refunds"} and body["refunds"] == []
    assert assert_transaction(body["transaction"])["id"] == bought["transaction"]["id"]
    assert body["transaction"]["total"] == 1700
    sessions = [assert_session(s) for s in body["sessions"]]
    assert {s["id"]: s["status"] for s in sessions} == {bought["session"]["id"]: "cancelled", retry["id"]: "open"}
    assert all(s["transaction_id"] == bought["transaction"]["id"] for s in sessions)


async def test_someone_elses_transaction_is_not_found_exactly_like_a_missing_one(api, make_api):
    theirs = (await buy(api, 10, user="u2"))["transaction"]["id"]
    elsewhere = await make_api()  # an app where that id never existed

    as_other = await api.get(f"{TRANSACTIONS}/{theirs}", user="u1")
    as_missing = await elsewhere.get(f"{TRANSACTIONS}/{theirs}", user="u1")

    await error_of(as_other, 404, "not_found")
    assert await as_other.read() == await as_missing.read()
    assert as_other.status == as_missing.status == 404


async def test_an_unknown_transaction_id_is_not_found(api):
    await error_of(await api.get(f"{TRANSACTIONS}/txn_nope"), 404, "not_found")
