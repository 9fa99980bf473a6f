"""ReceivesLedger (on the in-memory adapters): the caller's receives ledger, newest first, each
line with the balance right after it.

- the deltas add up to the balance the membership shows, across an allowance period change, a
  purchase, a consumption and an upgrade; `balance_after` is the running sum;
- kinds are the contract's (`refund` taken back from a refunded purchase is `refund_hold`), a
  purchase names its transaction, a consumption its reference;
- by page or after a cursor, never both; a cursor that is not one of the caller's lines is refused;
- a user with no membership has an empty ledger and the read writes nothing; a membership whose
  period ended is rolled forward first, as reading the membership does.
"""
import pytest
from builders import become, buy_and_pay
from world import World

from domain.errors import DomainValidationError
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand
from ports.use_cases.plans.receives_ledger import ReceivesLedgerQuery
from ports.use_cases.views import CursorPage, Page


async def ledger(world, user="alice", **query):
    return await world.container.use_cases.receives_ledger()(ReceivesLedgerQuery(user, **query))


async def consume(world, user, count, reference):
    await world.consume_receives(ConsumeReceivesCommand(user, count, reference))


async def a_busy_month(world) -> str:
    """Alice: the basic allowance (3), buys 10, consumes 5 (3 + 2), then the next period; returns
    the purchase's transaction id."""
    bought = await buy_and_pay(world, "alice", 10)
    await consume(world, "alice", 5, "match-1")
    world.advance(days=31)
    return bought.transaction.id


async def test_the_deltas_add_up_to_the_balance_across_periods_purchases_consumptions_and_upgrades():
    world = World()
    await a_busy_month(world)
    await consume(world, "alice", 1, "match-2")
    await become(world, "alice", "pro")
    await consume(world, "alice", 4, "match-3")

    found = await ledger(world, limit=100)
    balance = (await world.membership("alice")).balance

    assert sum(line.delta for line in found.items) == balance == found.items[0].balance_after
    running = 0
    for line in reversed(found.items):
        running += line.delta
        assert line.balance_after == running
    assert {line.kind for line in found.items} == {"allowance_grant", "allowance_expiry", "purchase", "consumption"}


async def test_lines_are_newest_first_in_the_contracts_shape():
    world = World()
    purchase = await a_busy_month(world)
    await world.membership("alice")  # rolls into the next period (nothing left to expire)

    found = await ledger(world)

    assert isinstance(found, Page) and (found.page, found.limit, found.total, found.has_more) == (1, 20, 5, False)
    assert [(x.kind, x.delta, x.balance_after, x.transaction_id, x.reference) for x in found.items] == [
        ("allowance_grant", 3, 11, None, found.items[0].reference),
        ("consumption", -2, 8, None, "match-1"),  # a consumption takes the allowance first: two lines
        ("consumption", -3, 10, None, "match-1"),
        ("purchase", 10, 13, purchase, purchase),
        ("allowance_grant", 3, 3, None, found.items[4].reference),
    ]
    assert found.items[0].reference.startswith("period:") and found.items[0].reference != found.items[4].reference
    assert found.items[0].created_at == world.clock.now()
    assert len({x.id for x in found.items}) == 5 and all(x.id.startswith("rle_") for x in found.items)


async def test_a_refund_taking_receives_back_is_a_refund_hold_naming_its_transaction():
    world = World()
    bought = await buy_and_pay(world, "alice", 10)
    async with world.uow() as uow:  # what a refund of the purchase does to the membership (issue 16 wires it)
        membership = await uow.memberships.get("alice", for_update=True)
        membership.revoke_purchase(4, bought.transaction.id, world.clock.now())
        await uow.memberships.update(membership)
        await uow.commit()

    newest = (await ledger(world)).items[0]

    assert (newest.kind, newest.delta, newest.balance_after, newest.transaction_id) == (
        "refund_hold", -4, 9, bought.transaction.id)


async def test_after_a_cursor_come_the_older_lines():
    world = World()
    await a_busy_month(world)
    await consume(world, "alice", 1, "match-2")
    whole = (await ledger(world, limit=100)).items

    found = await ledger(world, starting_after=whole[1].id, limit=2)

    assert isinstance(found, CursorPage)
    assert (found.items, found.has_more, found.next_cursor) == (list(whole[2:4]), True, whole[3].id)
    rest = await ledger(world, starting_after=found.next_cursor, limit=100)
    assert (rest.items, rest.has_more, rest.next_cursor) == (list(whole[4:]), False, None)


async def test_page_and_starting_after_together_are_refused():
    world = World()
    await a_busy_month(world)
    first = (await ledger(world)).items[0]

    with pytest.raises(DomainValidationError) as raised:
        await ledger(world, starting_after=first.id, page=2)

    assert raised.value.field == "starting_after"


@pytest.mark.parametrize("cursor", ["BOBS", "rle_999", "rle_x", "", "txn_1"])
async def test_a_cursor_that_is_not_one_of_the_callers_lines_is_refused(cursor):
    world = World()
    await a_busy_month(world)
    await buy_and_pay(world, "bob", 1)
    bobs = (await ledger(world, "bob")).items[0].id

    with pytest.raises(DomainValidationError) as raised:
        await ledger(world, starting_after=bobs if cursor == "BOBS" else cursor)

    assert raised.value.details == {"starting_after": ["Must be the id of one of your items in this list."]}


@pytest.mark.parametrize("query, field", [({"page": 0}, "page"), ({"limit": 0}, "limit"), ({"limit": 101}, "limit")])
async def test_bad_pages_and_limits_are_refused(query, field):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await ledger(world, **query)

    assert raised.value.field == field


async def test_no_membership_an_empty_ledger_and_nothing_written():
    world = World()

    found = await ledger(world, "carol")
    after = await ledger(world, "carol", page=3)

    assert (found.items, found.total, found.has_more) == ([], 0, False)
    assert (after.items, after.page) == ([], 3)
    assert world.store.memberships == {} and world.store.ledger == []


async def test_a_membership_behind_its_period_is_rolled_forward_first():
    world = World()
    await buy_and_pay(world, "alice", 10)
    await consume(world, "alice", 1, "match-1")
    world.advance(days=31)  # the period ended (2 of its allowance left); nothing has read the membership since
    assert not world.store.memberships["alice"].is_current_at(world.clock.now())

    found = await ledger(world)

    assert [(x.kind, x.delta, x.balance_after) for x in found.items[:2]] == [
        ("allowance_grant", 3, 13), ("allowance_expiry", -2, 10)]
    assert found.items[0].balance_after == (await world.membership("alice")).balance == 13
    assert sum(x.delta for x in found.items) == 13
