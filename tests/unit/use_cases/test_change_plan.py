"""ChangePlan: prorated upgrades paid through a session, downgrades scheduled for the period end,
re-choosing the current plan, and how plan changes supersede each other and count as pending."""
from datetime import datetime, timedelta, timezone
from fractions import Fraction
from math import floor

import pytest
from hypothesis import given, settings, strategies as st

from builders import all_transactions, become, buy, detail, ledger_balance, upgrade, OPEN_ATTEMPTS
from domain.errors import (
    DomainValidationError,
    PaymentMethodUnavailableError,
    PlanUnchangedError,
    ProviderUnavailableError,
    TooManyPendingError,
)
from domain.money import CNY, Money
from ports.payment_provider import PaymentState
from ports.use_cases.plans.change_plan import (
    ChangePlanCommand,
    DowngradeScheduled,
    ScheduledChangeCancelled,
    UpgradeStarted,
)
from ports.use_cases.plans.consume_receives import ConsumeReceivesCommand
from world import START, World

FEB_28 = datetime(2026, 2, 28, 10, tzinfo=timezone.utc)  # end of the period that starts at START
MAR_31 = datetime(2026, 3, 31, 10, tzinfo=timezone.utc)
SECOND = timedelta(seconds=1)
SUPERSEDED = "superseded by a new plan change"


def half_up(value: Fraction) -> int:
    return floor(value + Fraction(1, 2))


def expected_proration(old_price: int, new_price: int, start: datetime, end: datetime, now: datetime):
    r = Fraction((end - now) // SECOND, (end - start) // SECOND)
    credit, debit = half_up(old_price * r), half_up(new_price * r)
    return credit, debit, debit - credit


async def change(world, plan, method=None, user="alice", return_url=None):
    return await world.change_plan(ChangePlanCommand(user, plan, method, return_url))


async def buy_paid(world, quantity):
    bought = await buy(world, "alice", quantity)
    await world.pay(bought.session)


# ---------------------------------------------------------------- upgrade from basic
async def test_an_upgrade_from_basic_charges_the_full_price_and_keeps_no_period_end():
    world = World()

    started = await change(world, "pro", "alipay")

    assert isinstance(started, UpgradeStarted)
    p = started.proration
    assert (p.credit, p.debit, p.charge, p.period_end) == (Money(0, CNY), Money(2900, CNY), Money(2900, CNY), None)
    t = started.transaction
    assert (t.type, t.status, t.plan_from, t.plan_to, t.receives) == ("plan_upgrade", "pending", "basic", "pro", None)
    assert (t.subtotal, t.discount, t.total) == (Money(2900, CNY), Money(0, CNY), Money(2900, CNY))
    s = started.session
    assert (s.status, s.amount, s.payment_method, s.transaction_id) == ("open", Money(2900, CNY), "alipay", t.id)
    assert t.order_id != s.order_id


async def test_the_plan_stays_basic_until_the_upgrade_is_paid():
    world = World()
    await change(world, "pro", "alipay")

    m = await world.membership("alice")

    assert (m.plan, m.monthly_allowance, m.allowance_remaining) == ("basic", 3, 3)


async def test_a_paid_upgrade_from_basic_starts_a_new_period_at_the_payment():
    world = World()
    await world.consume_receives(ConsumeReceivesCommand("alice", 1, "match-1"))
    await buy_paid(world, 4)
    started = await change(world, "pro", "alipay")
    world.advance(hours=2)

    await world.pay(started.session)

    paid_at = START + timedelta(hours=2)
    m = await world.membership("alice")
    assert (m.plan, m.current_period_start, m.current_period_end) == ("pro", paid_at, paid_at + timedelta(days=28))
    assert (m.monthly_allowance, m.allowance_remaining, m.purchased_remaining) == (20, 20, 4)
    assert ledger_balance(world).total == m.balance == 24
    found = await detail(world, "alice", started.transaction.id)
    assert (found.transaction.status, found.transaction.completed_at) == ("succeeded", paid_at)


# ---------------------------------------------------------------- upgrade between paid plans
@pytest.mark.parametrize("elapsed", [
    timedelta(0),
    timedelta(days=9, hours=7, minutes=13, seconds=29),
    timedelta(days=13, hours=23, minutes=59, seconds=59, microseconds=999999),
    timedelta(days=27, hours=23),
])
async def test_an_upgrade_between_paid_plans_is_prorated_on_the_remaining_whole_seconds(elapsed):
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(START + elapsed)

    started = await change(world, "vip", "wechat_pay")

    credit, debit, charge = expected_proration(2900, 5900, START, FEB_28, START + elapsed)
    p = started.proration
    assert (p.credit.amount, p.debit.amount, p.charge.amount, p.period_end) == (credit, debit, charge, FEB_28)
    t = started.transaction
    assert (t.subtotal.amount, t.discount.amount, t.total.amount) == (debit, credit, charge)
    assert started.session.amount == Money(charge, CNY)


async def test_proration_rounds_exact_halves_up():
    world = World()
    await become(world, "alice", "pro")
    # 12096 s of 2419200 s remain: 2900 × r = 14.5 and 5900 × r = 29.5 exactly
    world.clock.set(FEB_28 - timedelta(seconds=12096))

    p = (await change(world, "vip", "alipay")).proration

    assert (p.credit.amount, p.debit.amount, p.charge.amount) == (15, 30, 15)


@settings(max_examples=30, deadline=None)
@given(elapsed_seconds=st.integers(min_value=0, max_value=2419199))
async def test_any_mid_period_upgrade_charges_the_difference_of_the_rounded_parts(elapsed_seconds):
    world = World()
    await become(world, "alice", "pro")
    now = START + timedelta(seconds=elapsed_seconds)
    world.clock.set(now)

    p = (await change(world, "vip", "alipay")).proration

    assert (p.credit.amount, p.debit.amount, p.charge.amount) == expected_proration(2900, 5900, START, FEB_28, now)


async def test_a_paid_mid_period_upgrade_keeps_the_period_and_grants_the_rest_of_the_new_allowance():
    world = World()
    await become(world, "alice", "pro")
    await buy_paid(world, 5)
    world.advance(days=10)
    for n in range(7):
        await world.consume_receives(ConsumeReceivesCommand("alice", 1, f"match-{n}"))
    started = await change(world, "vip", "alipay")
    world.advance(minutes=3)

    await world.pay(started.session)

    m = await world.membership("alice")
    assert (m.plan, m.current_period_start, m.current_period_end) == ("vip", START, FEB_28)
    assert (m.monthly_allowance, m.allowance_remaining, m.purchased_remaining) == (100, 93, 5)
    assert ledger_balance(world).total == m.balance == 98


async def test_the_plan_stays_pro_until_the_mid_period_upgrade_is_paid():
    world = World()
    await become(world, "alice", "pro")
    world.advance(days=3)

    await change(world, "vip", "alipay")

    m = await world.membership("alice")
    assert (m.plan, m.monthly_allowance) == ("pro", 20)


# ---------------------------------------------------------------- downgrades
async def test_a_downgrade_is_settled_at_once_with_a_zero_transaction_and_scheduled_for_the_period_end():
    world = World()
    await become(world, "alice", "pro")
    world.advance(days=5)

    result = await change(world, "basic")

    assert isinstance(result, DowngradeScheduled)
    assert result.effective_at == FEB_28
    t = result.transaction
    assert (t.type, t.status, t.plan_from, t.plan_to) == ("plan_downgrade", "succeeded", "pro", "basic")
    assert (t.total, t.payment_method, t.provider, t.completed_at) == (Money(0, CNY), None, None, world.clock.now())
    m = await world.membership("alice")
    assert (m.plan, m.monthly_allowance) == ("pro", 20)
    assert (m.scheduled_change.plan, m.scheduled_change.effective_at) == ("basic", FEB_28)


async def test_a_scheduled_downgrade_takes_effect_at_the_period_end():
    world = World()
    await become(world, "alice", "pro")
    await buy_paid(world, 5)
    await change(world, "basic")

    world.clock.set(FEB_28 - SECOND)
    before = await world.membership("alice")
    world.clock.set(FEB_28)
    after = await world.membership("alice")

    assert (before.plan, before.allowance_remaining) == ("pro", 20)
    assert (after.plan, after.scheduled_change, after.monthly_allowance) == ("basic", None, 3)
    assert (after.allowance_remaining, after.purchased_remaining) == (3, 5)
    assert (after.current_period_start, after.current_period_end) == (FEB_28, MAR_31)
    assert ledger_balance(world).total == after.balance


async def test_until_renewals_exist_a_downgrade_to_a_paid_plan_lapses_to_basic_at_the_period_end():
    world = World()
    await become(world, "alice", "vip")
    result = await change(world, "pro")
    assert (await world.membership("alice")).scheduled_change.plan == "pro"

    world.clock.set(FEB_28)
    m = await world.membership("alice")

    assert isinstance(result, DowngradeScheduled)
    assert (m.plan, m.scheduled_change, m.monthly_allowance) == ("basic", None, 3)


async def test_until_renewals_exist_an_unchanged_paid_plan_lapses_to_basic_at_the_period_end():
    world = World()
    await become(world, "alice", "pro")

    world.clock.set(FEB_28 + timedelta(days=1))
    m = await world.membership("alice")

    assert (m.plan, m.monthly_allowance, m.allowance_remaining) == ("basic", 3, 3)


async def test_a_downgrade_cancels_a_pending_upgrade():
    world = World()
    await become(world, "alice", "pro")
    world.advance(minutes=1)
    pending = await change(world, "vip", "alipay")
    world.advance(minutes=1)

    await change(world, "basic")

    found = await detail(world, "alice", pending.transaction.id)
    assert (found.transaction.status, found.transaction.cancel_reason) == ("cancelled", SUPERSEDED)
    assert [s.status for s in found.sessions] == ["cancelled"]
    assert (await world.mock.query_payment(pending.session.order_id)).state is PaymentState.CLOSED


# ---------------------------------------------------------------- the current plan again
async def test_choosing_the_current_plan_cancels_a_scheduled_change():
    world = World()
    await become(world, "alice", "pro")
    await change(world, "basic")

    result = await change(world, "pro")

    assert isinstance(result, ScheduledChangeCancelled)
    assert (result.membership.plan, result.membership.scheduled_change) == ("pro", None)
    assert (await world.membership("alice")).scheduled_change is None


async def test_choosing_the_current_plan_without_a_scheduled_change_is_refused():
    world = World()
    await become(world, "alice", "pro")

    with pytest.raises(PlanUnchangedError) as raised:
        await change(world, "pro")

    assert raised.value.code == "plan_unchanged"


async def test_choosing_basic_on_basic_is_refused():
    world = World()

    with pytest.raises(PlanUnchangedError):
        await change(world, "basic")


async def test_an_unpaid_upgrade_does_not_make_its_plan_the_current_one():
    world = World()
    await change(world, "pro", "alipay")

    with pytest.raises(PlanUnchangedError):
        await change(world, "basic")


async def test_an_upgrade_paid_while_a_downgrade_is_scheduled_drops_the_schedule():
    world = World()
    await become(world, "alice", "pro")
    await change(world, "basic")
    world.advance(days=1)

    started = await change(world, "vip", "alipay")
    await world.pay(started.session)

    m = await world.membership("alice")
    assert (m.plan, m.scheduled_change, m.current_period_end) == ("vip", None, FEB_28)


# ---------------------------------------------------------------- superseding and limits
async def test_a_new_plan_change_cancels_the_earlier_pending_one():
    world = World()
    first = await change(world, "pro", "alipay")
    world.advance(minutes=1)

    second = await change(world, "vip", "wechat_pay")

    found = await detail(world, "alice", first.transaction.id)
    assert (found.transaction.status, found.transaction.cancel_reason) == ("cancelled", SUPERSEDED)
    assert [s.status for s in found.sessions] == ["cancelled"]
    assert (await world.mock.query_payment(first.session.order_id)).state is PaymentState.CLOSED
    assert (second.transaction.status, second.proration.charge) == ("pending", Money(5900, CNY))
    await world.pay(second.session)
    assert (await world.membership("alice")).plan == "vip"


async def test_a_new_plan_change_leaves_pending_purchases_alone():
    world = World()
    bought = await buy(world, "alice", 10)

    await change(world, "pro", "alipay")

    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "pending"


async def test_pending_plan_changes_count_toward_the_pending_limit():
    world = World(max_pending=1)
    await change(world, "pro", "alipay")

    with pytest.raises(TooManyPendingError):
        await buy(world, "alice", 10)

    assert [t.type for t in await all_transactions(world)] == ["plan_upgrade"]


async def test_an_upgrade_is_refused_at_the_pending_limit_and_nothing_is_written():
    world = World(max_pending=1)
    await buy(world, "alice", 10)
    sessions = set(world.store.sessions)

    with pytest.raises(TooManyPendingError) as raised:
        await change(world, "pro", "alipay")

    assert raised.value.code == "too_many_pending"
    assert [t.type for t in await all_transactions(world)] == ["purchase_receives"]
    assert set(world.store.sessions) == sessions


async def test_replacing_a_pending_upgrade_is_allowed_at_the_pending_limit():
    world = World(max_pending=1)
    await change(world, "pro", "alipay")

    started = await change(world, "vip", "alipay")

    assert sorted(t.status for t in await all_transactions(world)) == ["cancelled", "pending"]
    assert started.transaction.plan_to == "vip"


# ---------------------------------------------------------------- refused requests
async def test_an_upgrade_needs_a_payment_method():
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await change(world, "pro")

    assert raised.value.field == "payment_method"
    assert await all_transactions(world) == []


@pytest.mark.parametrize("plan", ["gold", "PRO", ""])
async def test_an_unknown_plan_is_refused(plan):
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await change(world, plan, "alipay")

    assert raised.value.field == "new_plan"
    assert await all_transactions(world) == []


async def test_an_upgrade_with_an_unavailable_method_is_refused():
    world = World(routes={"wechat_pay": "mock"})

    with pytest.raises(PaymentMethodUnavailableError):
        await change(world, "pro", "alipay")

    assert await all_transactions(world) == []


async def test_an_upgrade_with_a_foreign_return_url_is_refused():
    world = World()

    with pytest.raises(DomainValidationError) as raised:
        await change(world, "pro", "alipay", return_url="https://evil.example/")

    assert raised.value.field == "return_url"


async def test_a_provider_outage_leaves_the_upgrade_pending_and_the_plan_unchanged():
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("down"), times=OPEN_ATTEMPTS)

    with pytest.raises(ProviderUnavailableError):
        await change(world, "pro", "alipay")

    [t] = await all_transactions(world)
    assert (t.type, t.status, t.failure_reason) == ("plan_upgrade", "pending", "provider_unavailable")
    assert (await world.membership("alice")).plan == "basic"


# ---------------------------------------------------------------- late payment
async def test_an_upgrade_paid_after_it_expired_still_upgrades():
    world = World()
    started = await upgrade(world, "alice", "pro")
    world.advance(hours=2)
    await world.expire_sessions()

    await world.pay(started.session)

    m = await world.membership("alice")
    assert (m.plan, m.current_period_start) == ("pro", world.clock.now())
    assert (await detail(world, "alice", started.transaction.id)).transaction.status == "succeeded"


# ---------------------------------------------------------------- zero charges and stale prices
async def test_a_prorated_charge_that_rounds_to_nothing_upgrades_at_once_without_a_session():
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(FEB_28 - SECOND)  # 1 s of the period left: 2900 × r and 5900 × r both round to 0

    started = await change(world, "vip", "wechat_pay")

    assert started.session is None
    assert (started.proration.charge.amount, started.transaction.status) == (0, "succeeded")
    membership = await world.membership("alice")
    assert (membership.plan, membership.current_period_end) == ("vip", FEB_28)


async def test_an_upgrade_paid_after_the_period_it_was_prorated_over_is_refunded_in_full():
    world = World()
    await become(world, "alice", "pro")
    world.clock.set(FEB_28 - timedelta(minutes=30))
    started = await change(world, "vip", "wechat_pay")  # priced on the last 30 minutes
    world.clock.set(FEB_28 + timedelta(minutes=10))  # pro lapsed to basic meanwhile

    result = await world.pay(started.session)

    assert result.effect == "refunded_stale"
    found = await detail(world, "alice", started.transaction.id)
    assert (found.transaction.status, found.transaction.refunded_amount) == ("refunded", started.transaction.total)
    assert (await world.membership("alice")).plan == "basic"
    refunds = list(world.store.refunds.values())
    assert [(r.reason, r.status.value, r.amount) for r in refunds] == [
        ("stale_plan_change", "succeeded", started.transaction.total)]


async def test_a_superseded_plan_change_paid_late_is_refunded_and_the_winner_stays():
    world = World()
    first = await change(world, "vip", "alipay")
    second = await change(world, "pro", "alipay")  # cancels the vip upgrade
    assert (await world.pay(second.session)).effect == "applied"

    late = await world.pay(first.session)

    assert late.effect == "refunded_stale"
    assert (await world.membership("alice")).plan == "pro"
    found = await detail(world, "alice", first.transaction.id)
    assert (found.transaction.status, found.transaction.refunded_amount.amount) == ("refunded", 5900)
