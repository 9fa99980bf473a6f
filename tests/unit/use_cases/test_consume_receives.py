"""ConsumeReceives: the allowance first, then purchased receives; all or nothing; idempotent by
the caller's reference; the allowance resets each period and never rolls over."""
from datetime import datetime, timedelta, timezone

import pytest

from builders import become, buy_and_pay, ledger_balance
from domain.errors import DomainValidationError, InsufficientReceivesError
from domain.ledger import LedgerKind
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand
from world import World

FEB_28 = datetime(2026, 2, 28, 10, tzinfo=timezone.utc)


async def consume(world, count, reference, user="alice"):
    return await world.consume_receives(ConsumeReceivesCommand(user, count, reference))


async def test_the_allowance_is_consumed_before_purchased_receives():
    world = World()
    await buy_and_pay(world, "alice", 10)

    m = await consume(world, 5, "match-1")

    assert (m.allowance_remaining, m.purchased_remaining, m.balance) == (0, 8, 8)
    assert (await world.membership("alice")) == m
    assert ledger_balance(world).total == 8


async def test_a_small_consumption_takes_only_from_the_allowance():
    world = World()
    await buy_and_pay(world, "alice", 10)

    m = await consume(world, 2, "match-1")

    assert (m.allowance_remaining, m.purchased_remaining) == (1, 10)


async def test_a_first_use_consumption_starts_the_membership():
    world = World()

    m = await consume(world, 1, "match-1")

    assert (m.plan, m.allowance_remaining, m.balance) == ("basic", 2, 2)


async def test_the_same_reference_again_consumes_nothing_more():
    world = World()
    await consume(world, 2, "match-1")
    entries = len(world.store.ledger)

    again = await consume(world, 2, "match-1")
    other_count = await consume(world, 1, "match-1")

    assert again.balance == other_count.balance == 1
    assert len(world.store.ledger) == entries


async def test_references_are_scoped_to_the_user():
    world = World()
    await consume(world, 1, "match-1", "alice")

    bob = await consume(world, 1, "match-1", "bob")

    assert bob.balance == 2


async def test_consuming_more_than_the_balance_is_refused_and_consumes_nothing():
    world = World()
    await buy_and_pay(world, "alice", 1)
    ledger_before = list(world.store.ledger)

    with pytest.raises(InsufficientReceivesError) as raised:
        await consume(world, 5, "match-1")

    assert (raised.value.code, raised.value.requested, raised.value.balance) == ("insufficient_receives", 5, 4)
    assert world.store.ledger == ledger_before
    m = await world.membership("alice")
    assert (m.allowance_remaining, m.purchased_remaining) == (3, 1)


async def test_a_refused_consumption_does_not_use_up_its_reference():
    world = World()
    with pytest.raises(InsufficientReceivesError):
        await consume(world, 5, "match-1")
    await buy_and_pay(world, "alice", 5)

    m = await consume(world, 5, "match-1")

    assert (m.allowance_remaining, m.purchased_remaining) == (0, 3)


async def test_the_whole_balance_can_be_consumed():
    world = World()
    await buy_and_pay(world, "alice", 2)

    m = await consume(world, 5, "match-1")

    assert m.balance == 0
    with pytest.raises(InsufficientReceivesError):
        await consume(world, 1, "match-2")


@pytest.mark.parametrize("count", [0, 101, -3, True, "1"])
async def test_a_count_out_of_range_is_refused(count):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await consume(world, count, "match-1")

    assert raised.value.field == "count"
    assert world.store.ledger == []


@pytest.mark.parametrize("reference", ["", "x" * 256])
async def test_a_reference_of_the_wrong_length_is_refused(reference):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await consume(world, 1, reference)

    assert raised.value.field == "reference"


async def test_a_reference_of_255_characters_is_accepted():
    world = World()

    m = await consume(world, 1, "x" * 255)

    assert m.balance == 2


async def test_the_allowance_resets_at_the_next_period_start_and_does_not_roll_over():
    world = World()
    await consume(world, 1, "match-1")

    world.clock.set(FEB_28 - timedelta(seconds=1))
    last_second = await world.membership("alice")
    world.clock.set(FEB_28)
    next_period = await world.membership("alice")

    assert last_second.allowance_remaining == 2
    assert (next_period.allowance_remaining, next_period.balance) == (3, 3)
    assert ledger_balance(world).total == 3
    expired = [e.delta for e in world.store.ledger if e.kind is LedgerKind.ALLOWANCE_EXPIRY]
    assert expired == [-2]


async def test_a_consumption_in_a_new_period_uses_that_periods_allowance():
    world = World()
    await consume(world, 3, "match-1")
    world.clock.set(FEB_28 + timedelta(days=1))

    m = await consume(world, 2, "match-2")

    assert (m.current_period_start, m.allowance_remaining) == (FEB_28, 1)


async def test_a_pro_member_consumes_from_the_monthly_twenty():
    world = World()
    await become(world, "alice", "pro")

    m = await consume(world, 20, "match-1")

    assert (m.monthly_allowance, m.allowance_remaining, m.balance) == (20, 0, 0)
