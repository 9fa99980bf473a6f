"""Quotes: QuoteReceives and QuotePlanChange give exactly the figures a purchase or a plan change
made at the same moment would, for every kind of change, and change nothing at all (no membership
created or rolled forward, no ledger entry, no pending plan change superseded)."""
from datetime import datetime, timedelta, timezone

import attrs
import pytest
from builders import all_transactions, become, buy, detail, session, upgrade
from hypothesis import given, settings
from hypothesis import strategies as st
from world import START, World

from domain.errors import DomainValidationError
from domain.membership import PlanChangeKind
from domain.money import CNY, Money
from ports.use_cases.catalog.quote_receives import QuoteReceivesQuery
from ports.use_cases.plans.change_plan import ChangePlanCommand, DowngradeScheduled, UpgradeStarted
from ports.use_cases.plans.quote_plan_change import QuotePlanChangeQuery

FEB_28 = datetime(2026, 2, 28, 10, tzinfo=timezone.utc)  # end of the period that starts at START
PERIOD_SECONDS = int((FEB_28 - START).total_seconds())


def state(world: World) -> dict:
    """Everything committed in the world's store, deeply (aggregates compared field by field)."""
    return attrs.asdict(world.store, filter=lambda attribute, _: attribute.name != "row_locks")


async def quote_receives(world: World, amount):
    return await world.container.use_cases.quote_receives()(QuoteReceivesQuery(amount))


async def quote_plan(world: World, plan: str, user: str = "alice"):
    return await world.container.use_cases.quote_plan_change()(QuotePlanChangeQuery(user, plan))


def figures(proration) -> tuple:
    return proration.credit, proration.debit, proration.charge, proration.period_end


# ---------------------------------------------------------------- receives
@pytest.mark.parametrize(("amount", "subtotal", "discount", "total"), [
    (1, 200, 0, 200), (4, 800, 0, 800), (5, 1000, 100, 900), (7, 1400, 140, 1260), (10, 2000, 300, 1700),
    (19, 3800, 570, 3230), (20, 4000, 800, 3200), (100, 20000, 4000, 16000),
])
async def test_a_receives_quote_prices_the_whole_quantity_at_its_tier(amount, subtotal, discount, total):
    quote = await quote_receives(World(), amount)

    assert (quote.quantity, quote.subtotal, quote.discount, quote.total) == (
        amount, Money(subtotal, CNY), Money(discount, CNY), Money(total, CNY))


@pytest.mark.parametrize("amount", [1, 7, 33, 100])
async def test_a_receives_quote_is_what_the_purchase_then_charges_and_stores_nothing(amount):
    world = World()
    before = state(world)

    quote = await quote_receives(world, amount)

    assert state(world) == before
    t = (await buy(world, "alice", amount)).transaction
    assert (t.subtotal, t.discount, t.total, t.receives) == (quote.subtotal, quote.discount, quote.total, amount)


@pytest.mark.parametrize("amount", [0, -1, 101, "7", 7.0, True, None])
async def test_a_receives_quote_outside_1_to_100_whole_receives_is_refused_on_amount(amount):
    with pytest.raises(DomainValidationError) as refused:
        await quote_receives(World(), amount)

    assert refused.value.field == "amount"


# ---------------------------------------------------------------- plans: every kind
async def test_a_user_without_a_membership_is_quoted_the_full_price_from_basic_and_still_has_none():
    world = World()

    quote = await quote_plan(world, "vip")

    assert (quote.kind, quote.effective_at, quote.currency) == (PlanChangeKind.UPGRADE, None, CNY)
    assert figures(quote.proration) == (Money(0, CNY), Money(5900, CNY), Money(5900, CNY), None)
    assert world.store.memberships == {} and world.store.ledger == [] and world.store.transactions == {}


async def test_a_user_without_a_membership_is_quoted_unchanged_for_basic_and_still_has_none():
    world = World()

    quote = await quote_plan(world, "basic")

    assert (quote.kind, quote.proration, quote.effective_at) == (PlanChangeKind.UNCHANGED, None, None)
    assert world.store.memberships == {} and world.store.ledger == []


async def test_an_upgrade_from_basic_is_quoted_as_the_change_then_charges_it():
    world = World()
    await world.membership("alice")  # the record exists
    before = state(world)

    quote = await quote_plan(world, "pro")

    assert state(world) == before
    started = await upgrade(world, "alice", "pro")
    assert figures(quote.proration) == figures(started.proration)
    assert started.transaction.total == quote.proration.charge == Money(2900, CNY)


@pytest.mark.parametrize("elapsed", [
    timedelta(0),
    timedelta(days=9, hours=7, minutes=13, seconds=29),
    timedelta(days=13, hours=23, minutes=59, seconds=59, microseconds=999999),
    timedelta(days=27, hours=23),
    timedelta(seconds=PERIOD_SECONDS - 12096),  # exact halves: 14.5 and 29.5 fen, rounded up
])
async def test_a_mid_period_upgrade_between_paid_plans_is_quoted_as_the_change_then_charges_it(elapsed):
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(START + elapsed)
    before = state(world)

    quote = await quote_plan(world, "vip")

    assert state(world) == before
    assert (quote.kind, quote.effective_at) == (PlanChangeKind.UPGRADE, None)
    assert quote.proration.period_end == FEB_28
    started = await world.change_plan(ChangePlanCommand("alice", "vip", "wechat_pay"))
    assert figures(quote.proration) == figures(started.proration)
    assert (started.transaction.subtotal, started.transaction.discount, started.transaction.total) == (
        quote.proration.debit, quote.proration.credit, quote.proration.charge)
    assert started.session.amount == quote.proration.charge


@settings(max_examples=25, deadline=None)
@given(elapsed_seconds=st.integers(min_value=0, max_value=PERIOD_SECONDS - 1))
async def test_any_mid_period_upgrade_quote_equals_the_charge_of_the_change(elapsed_seconds):
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(START + timedelta(seconds=elapsed_seconds))

    quote = await quote_plan(world, "vip")
    started = await world.change_plan(ChangePlanCommand("alice", "vip", "alipay"))

    assert figures(quote.proration) == figures(started.proration)


async def test_an_upgrade_whose_charge_rounds_to_nothing_is_quoted_at_zero_as_the_change_settles_it():
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(FEB_28 - timedelta(seconds=100))  # 100 s left: 2900 and 5900 × r both round to 0

    quote = await quote_plan(world, "vip")
    started = await world.change_plan(ChangePlanCommand("alice", "vip", "alipay"))

    assert quote.proration.charge == Money(0, CNY)
    assert isinstance(started, UpgradeStarted) and started.session is None
    assert figures(quote.proration) == figures(started.proration)


async def test_a_downgrade_is_quoted_for_the_period_end_without_proration_as_the_change_schedules_it():
    world = World()
    await become(world, "alice", "vip")
    world.advance(days=5)
    before = state(world)

    quote = await quote_plan(world, "pro")

    assert state(world) == before
    assert (quote.kind, quote.proration, quote.effective_at) == (PlanChangeKind.DOWNGRADE, None, FEB_28)
    scheduled = await world.change_plan(ChangePlanCommand("alice", "pro"))
    assert isinstance(scheduled, DowngradeScheduled) and scheduled.effective_at == quote.effective_at


async def test_the_current_plan_is_quoted_unchanged_with_no_figures():
    world = World()
    await become(world, "alice", "pro")

    quote = await quote_plan(world, "pro")

    assert (quote.kind, quote.proration, quote.effective_at) == (PlanChangeKind.UNCHANGED, None, None)


async def test_the_current_plan_is_quoted_unchanged_with_a_change_scheduled_and_the_schedule_stays():
    world = World()
    await become(world, "alice", "pro")
    await world.change_plan(ChangePlanCommand("alice", "basic"))
    before = state(world)

    quote = await quote_plan(world, "pro")

    assert (quote.kind, quote.proration, quote.effective_at) == (PlanChangeKind.UNCHANGED, None, None)
    assert state(world) == before
    scheduled = (await world.membership("alice")).scheduled_change
    assert (scheduled.plan, scheduled.effective_at) == ("basic", FEB_28)


async def test_an_unknown_plan_is_refused_on_new_plan():
    with pytest.raises(DomainValidationError) as refused:
        await quote_plan(World(), "gold")

    assert refused.value.field == "new_plan"


# ---------------------------------------------------------------- plans: no side effects
async def test_a_quote_leaves_a_pending_upgrade_pending_with_its_session_open():
    world = World()
    pending = await upgrade(world, "alice", "pro")
    before = state(world)

    quote = await quote_plan(world, "vip")

    assert state(world) == before
    found = await detail(world, "alice", pending.transaction.id)
    assert found.transaction.status == "pending"
    assert (await session(world, "alice", pending.session.id)).status == "open"
    assert quote.kind is PlanChangeKind.UPGRADE
    await upgrade(world, "alice", "vip")  # a real change does supersede it (and the snapshot sees that)
    assert (await detail(world, "alice", pending.transaction.id)).transaction.status == "cancelled"
    assert state(world) != before


async def test_a_quote_is_against_the_active_plan_not_an_unpaid_upgrade():
    world = World()
    await become(world, "alice", "pro")
    world.advance(days=10)
    await upgrade(world, "alice", "vip")  # unpaid: the plan is still pro

    quote = await quote_plan(world, "vip")

    assert quote.kind is PlanChangeKind.UPGRADE
    assert quote.proration.credit.amount > 0 and quote.proration.period_end == FEB_28
    assert [t.status for t in await all_transactions(world)].count("pending") == 1


async def test_a_quote_after_the_period_end_reads_the_lapsed_plan_without_rolling_the_stored_membership():
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(FEB_28 + timedelta(days=1))  # no renewal: pro lapsed to basic at FEB_28
    before = state(world)

    quote = await quote_plan(world, "pro")

    assert state(world) == before  # the stored membership is still the pro one of the old period
    assert (quote.kind, figures(quote.proration)) == (
        PlanChangeKind.UPGRADE, (Money(0, CNY), Money(2900, CNY), Money(2900, CNY), None))
    started = await upgrade(world, "alice", "pro")
    assert figures(started.proration) == figures(quote.proration)
