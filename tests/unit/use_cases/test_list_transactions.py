"""ListTransactions: the caller's history, newest first, filtered by type, status and creation
date (inclusive), paginated; bad filters are refused."""
from datetime import timedelta

import pytest

from builders import buy, upgrade
from domain.errors import DomainValidationError
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.payments.list_transactions import ListTransactionsQuery
from world import START, World


async def history(world, **filters):
    return await world.list_transactions(ListTransactionsQuery("alice", **filters))


async def a_varied_history(world):
    """Five transactions an hour apart, oldest first:
    0 purchase succeeded, 1 plan_upgrade succeeded, 2 plan_downgrade succeeded,
    3 purchase cancelled, 4 purchase pending."""
    made = []
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session)
    made.append(bought.transaction.id)
    world.advance(hours=1)
    started = await upgrade(world, "alice", "pro")
    await world.pay(started.session)
    made.append(started.transaction.id)
    world.advance(hours=1)
    made.append((await world.change_plan(ChangePlanCommand("alice", "basic"))).transaction.id)
    world.advance(hours=1)
    dropped = await buy(world, "alice", 5)
    await world.cancel_transaction(CancelTransactionCommand("alice", dropped.transaction.id))
    made.append(dropped.transaction.id)
    world.advance(hours=1)
    made.append((await buy(world, "alice", 1)).transaction.id)
    return made


async def test_transactions_are_listed_newest_first():
    world = World()
    made = await a_varied_history(world)

    page = await history(world)

    assert [t.id for t in page.items] == made[::-1]
    assert (page.page, page.limit, page.total, page.has_more) == (1, 20, 5, False)


async def test_only_the_callers_transactions_are_listed():
    world = World()
    await buy(world, "bob", 10)

    page = await history(world)

    assert (page.items, page.total) == ([], 0)


@pytest.mark.parametrize("types, expected", [
    (("purchase_receives",), [4, 3, 0]),
    (("plan_upgrade", "plan_downgrade"), [2, 1]),
    (("plan_renewal",), []),
])
async def test_transactions_can_be_filtered_by_type(types, expected):
    world = World()
    made = await a_varied_history(world)

    page = await history(world, types=types)

    assert [t.id for t in page.items] == [made[i] for i in expected]
    assert page.total == len(expected)


@pytest.mark.parametrize("statuses, expected", [
    (("succeeded",), [2, 1, 0]),
    (("cancelled", "pending"), [4, 3]),
    (("expired", "refunded"), []),
])
async def test_transactions_can_be_filtered_by_status(statuses, expected):
    world = World()
    made = await a_varied_history(world)

    page = await history(world, statuses=statuses)

    assert [t.id for t in page.items] == [made[i] for i in expected]


async def test_type_and_status_filters_combine():
    world = World()
    made = await a_varied_history(world)

    page = await history(world, types=("purchase_receives",), statuses=("succeeded", "pending"))

    assert [t.id for t in page.items] == [made[4], made[0]]


async def test_the_date_bounds_are_inclusive():
    world = World()
    made = await a_varied_history(world)

    page = await history(world, date_from=START + timedelta(hours=1), date_to=START + timedelta(hours=3))

    assert [t.id for t in page.items] == [made[3], made[2], made[1]]


async def test_a_date_range_that_ends_just_before_a_transaction_leaves_it_out():
    world = World()
    made = await a_varied_history(world)

    before = await history(world, date_to=START + timedelta(hours=1) - timedelta(microseconds=1))
    after = await history(world, date_from=START + timedelta(hours=3, microseconds=1))

    assert [t.id for t in before.items] == [made[0]]
    assert [t.id for t in after.items] == [made[4]]


async def test_pages_split_the_history_and_tell_whether_more_follow():
    world = World()
    made = await a_varied_history(world)

    pages = [await history(world, page=n, limit=2) for n in (1, 2, 3, 4)]

    assert [[t.id for t in p.items] for p in pages] == [made[4:2:-1], made[2:0:-1], [made[0]], []]
    assert [p.has_more for p in pages] == [True, True, False, False]
    assert {p.total for p in pages} == {5}
    assert [(p.page, p.limit) for p in pages] == [(1, 2), (2, 2), (3, 2), (4, 2)]


async def test_filters_apply_before_pagination():
    world = World()
    made = await a_varied_history(world)

    page = await history(world, types=("purchase_receives",), page=2, limit=2)

    assert ([t.id for t in page.items], page.total, page.has_more) == ([made[0]], 3, False)


async def test_a_limit_of_100_is_allowed():
    world = World()
    await buy(world, "alice", 1)

    page = await history(world, limit=100)

    assert (page.limit, page.total) == (100, 1)


@pytest.mark.parametrize("filters, field", [
    ({"types": ("bogus",)}, "type"),
    ({"types": ("purchase_receives", "PURCHASE_RECEIVES")}, "type"),
    ({"statuses": ("paid",)}, "status"),
    ({"page": 0}, "page"),
    ({"page": -1}, "page"),
    ({"page": "1"}, "page"),
    ({"limit": 0}, "limit"),
    ({"limit": 101}, "limit"),
    ({"limit": True}, "limit"),
])
async def test_bad_filters_are_refused(filters, field):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await history(world, **filters)

    assert raised.value.field == field
    assert raised.value.code == "validation_error"
