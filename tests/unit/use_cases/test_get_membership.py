"""GetMembership: created on `basic` at first use, in monthly periods anchored there; read as of
now (rolled to the current period, the allowance reset); the balance is always the ledger's sum."""
from datetime import datetime, timezone

from builders import buy, buy_and_pay, ledger_balance
from domain.ledger import Bucket, LedgerKind
from world import START, World


def utc(*parts):
    return datetime(*parts, tzinfo=timezone.utc)


async def test_first_use_creates_a_basic_membership_with_three_receives():
    world = World()

    m = await world.membership("alice")

    assert (m.plan, m.status, m.scheduled_change) == ("basic", "active", None)
    assert (m.balance, m.allowance_remaining, m.purchased_remaining, m.monthly_allowance) == (3, 3, 0, 3)


async def test_the_first_period_is_one_month_anchored_at_first_use_clamped_to_february():
    world = World()

    m = await world.membership("alice")

    assert (m.current_period_start, m.current_period_end) == (START, utc(2026, 2, 28, 10))


async def test_later_periods_keep_the_anchor_day_where_the_month_has_it():
    world = World()
    await world.membership("alice")

    world.clock.set(utc(2026, 2, 28, 10))
    february = await world.membership("alice")
    world.clock.set(utc(2026, 3, 31, 10))
    march = await world.membership("alice")

    assert (february.current_period_start, february.current_period_end) == (utc(2026, 2, 28, 10), utc(2026, 3, 31, 10))
    assert (march.current_period_start, march.current_period_end) == (utc(2026, 3, 31, 10), utc(2026, 4, 30, 10))


async def test_the_first_use_is_the_first_call_that_touches_the_user_not_the_first_read():
    world = World()
    world.advance(days=3)

    await buy(world, "alice", 10)
    world.advance(days=1)
    m = await world.membership("alice")

    assert (m.current_period_start, m.current_period_end) == (utc(2026, 2, 3, 10), utc(2026, 3, 3, 10))


async def test_the_membership_is_stored_once_with_its_first_allowance_in_the_ledger():
    world = World()

    first = await world.membership("alice")
    world.advance(days=1)
    again = await world.membership("alice")

    assert first == again
    grants = [e for e in world.store.ledger if e.kind is LedgerKind.ALLOWANCE_GRANT]
    assert [(e.bucket, e.delta) for e in grants] == [(Bucket.ALLOWANCE, 3)]


async def test_each_user_has_their_own_membership():
    world = World()
    await world.membership("alice")
    world.advance(days=2)

    bob = await world.membership("bob")

    assert bob.current_period_start == utc(2026, 2, 2, 10)


async def test_a_new_period_resets_the_allowance_and_keeps_purchased_receives():
    world = World()
    await buy_and_pay(world, "alice", 5)

    world.clock.set(utc(2026, 2, 28, 10))
    m = await world.membership("alice")

    assert (m.allowance_remaining, m.purchased_remaining, m.balance) == (3, 5, 8)
    assert ledger_balance(world).total == m.balance


async def test_months_without_a_visit_are_skipped_and_the_ledger_still_adds_up():
    world = World()
    await buy_and_pay(world, "alice", 5)

    world.clock.set(utc(2026, 6, 15, 8))
    m = await world.membership("alice")

    assert (m.current_period_start, m.current_period_end) == (utc(2026, 5, 31, 10), utc(2026, 6, 30, 10))
    assert (m.plan, m.allowance_remaining, m.purchased_remaining) == ("basic", 3, 5)
    balance = ledger_balance(world)
    assert (balance.allowance, balance.purchased) == (3, 5)
