"""ListTransactions after a cursor, and transactions read as of now (on the in-memory adapters):

- `starting_after` answers the transactions that follow that one, newest first, with `has_more`
  and `next_cursor` (the last item's id when more follow), filters applied; chained, the cursors
  walk the history once even while new purchases arrive, where numbered pages repeat items;
- `page` beside `starting_after`, or a cursor that is not one of the caller's transactions
  (unknown, someone else's, empty), is a validation error on `starting_after`;
- a pending transaction whose sessions have all lapsed reads `expired` at once, in the list, its
  filters and the transaction's own read, updated when its last session lapsed; the sweep later
  stores the same status.
"""
import pytest
from builders import buy, detail
from world import World

from domain.errors import DomainValidationError
from ports.use_cases.payments.list_transactions import ListTransactionsQuery
from ports.use_cases.sessions.open_session import OpenSessionCommand
from ports.use_cases.views import CursorPage, Page


async def listed(world, user="alice", **query):
    return await world.list_transactions(ListTransactionsQuery(user, **query))


async def five_purchases(world, user="alice") -> list[str]:
    """Five purchases a minute apart, newest first; the even ones (0, 2, 4 newest first) paid."""
    made = []
    for n in range(5):
        bought = await buy(world, user, n + 1)
        if n % 2 == 0:
            await world.pay(bought.session)
        made.append(bought.transaction.id)
        world.advance(minutes=1)
    return made[::-1]


async def test_after_a_cursor_come_the_next_transactions_with_the_next_cursor():
    world = World(max_pending=10)
    made = await five_purchases(world)

    found = await listed(world, starting_after=made[0], limit=2)

    assert isinstance(found, CursorPage)
    assert [t.id for t in found.items] == made[1:3]
    assert (found.has_more, found.next_cursor) == (True, made[2])
    last = await listed(world, starting_after=made[2], limit=2)
    assert ([t.id for t in last.items], last.has_more, last.next_cursor) == (made[3:], False, None)
    assert await listed(world, starting_after=made[4]) == CursorPage([], False)


async def test_the_plain_call_is_a_numbered_page():
    world = World(max_pending=10)
    made = await five_purchases(world)

    found = await listed(world, limit=2)

    assert isinstance(found, Page) and (found.page, found.limit, found.total, found.has_more) == (1, 2, 5, True)
    assert [t.id for t in found.items] == made[:2]


async def test_cursors_walk_the_history_once_while_new_purchases_arrive():
    world = World(max_pending=20)
    made = await five_purchases(world)
    first = await listed(world, limit=2)
    await five_purchases(world)  # five newer ones

    second = await listed(world, starting_after=first.items[-1].id, limit=2)
    third = await listed(world, starting_after=second.next_cursor, limit=2)

    assert [t.id for t in [*first.items, *second.items, *third.items]] == made
    assert third.next_cursor is None
    paged = await listed(world, page=2, limit=2)
    assert [t.id for t in paged.items] != made[2:4]  # where numbered pages shift


async def test_filters_combine_with_the_cursor():
    world = World(max_pending=10)
    made = await five_purchases(world)

    found = await listed(world, starting_after=made[0], statuses=("succeeded",))

    assert [t.id for t in found.items] == [made[2], made[4]]
    assert all(t.status == "succeeded" for t in found.items)
    pending = await listed(world, starting_after=made[2], statuses=("pending",), limit=1)
    assert ([t.id for t in pending.items], pending.has_more) == ([made[3]], False)


async def test_page_and_starting_after_together_are_refused():
    world = World()
    made = await five_purchases(world)

    with pytest.raises(DomainValidationError) as raised:
        await listed(world, starting_after=made[0], page=1)

    assert raised.value.field == "starting_after"


@pytest.mark.parametrize("cursor", ["txn_unknown", "", "txn_\x00", "x" * 300, "BOBS"])
async def test_a_cursor_that_is_not_one_of_the_callers_transactions_is_refused(cursor):
    world = World()
    await five_purchases(world)
    bobs = (await buy(world, "bob", 1)).transaction.id

    with pytest.raises(DomainValidationError) as raised:
        await listed(world, starting_after=bobs if cursor == "BOBS" else cursor)

    assert raised.value.field == "starting_after"
    assert raised.value.details == {"starting_after": ["Must be the id of one of your items in this list."]}


@pytest.mark.parametrize("query, field", [({"limit": 0}, "limit"), ({"limit": 101}, "limit"),
                                          ({"types": ("bogus",)}, "type")])
async def test_bad_limits_and_filters_are_refused_beside_a_cursor_too(query, field):
    world = World()
    made = await five_purchases(world)

    with pytest.raises(DomainValidationError) as raised:
        await listed(world, starting_after=made[0], **query)

    assert raised.value.field == field


# ---------------------------------------------------------------------- read as of now
async def test_a_pending_transaction_whose_sessions_lapsed_reads_expired_at_once():
    world = World()
    bought = await buy(world, "alice", 3)
    expires_at = bought.session.expires_at
    world.advance(hours=1, seconds=1)  # past the session's expires_at, before any sweep

    found = await detail(world, "alice", bought.transaction.id)
    items = (await listed(world)).items

    assert (found.transaction.status, found.transaction.updated_at, found.transaction.completed_at) == (
        "expired", expires_at, None)
    assert [(t.status, t.updated_at) for t in items] == [("expired", expires_at)]
    assert [t.id for t in (await listed(world, statuses=("expired",))).items] == [bought.transaction.id]
    assert (await listed(world, statuses=("pending",))).items == []
    assert world.store.transactions[bought.transaction.id].status.value == "pending"  # stored: not yet swept

    await world.expire_sessions()

    swept = await detail(world, "alice", bought.transaction.id)
    assert swept.transaction.status == "expired"
    assert (await listed(world, statuses=("expired",))).total == 1


async def test_a_transaction_with_a_session_still_open_stays_pending():
    world = World()
    bought = await buy(world, "alice", 3)
    world.advance(minutes=50)
    await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))  # until 1h50
    world.advance(minutes=20)  # the first lapsed, the second has not

    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "pending"
    assert [t.status for t in (await listed(world, statuses=("pending",))).items] == ["pending"]
    assert (await listed(world, statuses=("expired",))).items == []
    world.advance(minutes=40)  # 1h50: the second lapses too
    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "expired"


async def test_lapsed_transactions_read_expired_after_a_cursor_and_in_its_filters():
    world = World(max_pending=10)
    made = await five_purchases(world)  # the odd ones are still pending
    world.advance(hours=2)

    found = await listed(world, starting_after=made[0])
    expired = await listed(world, starting_after=made[0], statuses=("expired",))

    assert [t.status for t in found.items] == ["expired", "succeeded", "expired", "succeeded"]
    assert [t.id for t in expired.items] == [made[1], made[3]]
    assert (await listed(world, starting_after=made[0], statuses=("pending",))).items == []
