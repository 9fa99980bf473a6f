"""The risk gate in the use cases that open payments, on the in-memory adapters (the service's own
wiring, tests/world.py): the windows of the velocity rules (24 h of paid amount, 1 h of failed or
expired attempts, both read in business time), nothing written when a payment is declined, a plan
upgrade declined inside its unit of work with its flag written after the rollback, blocks, and the
payer hash (keyed, never the raw id)."""
from __future__ import annotations

import pytest

from builders import buy, buy_and_pay
from domain.errors import TransactionNotFoundError
from domain.risk import RiskDeclinedError, RiskRule
from entrypoints.container import active_adapters
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.risk.signals import payer_hash, payer_key
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World

pytestmark = pytest.mark.asyncio


def risk_store(world: World):
    return active_adapters(world.container).risk_store()


async def open_flags(world: World, user: str) -> list:
    items, _ = await risk_store(world).flags(user_id=user, resolved=False)
    return items


async def test_the_daily_amount_counts_24_hours_of_payments_in_business_time():
    world = World()
    for _ in range(3):
        await buy_and_pay(world, "alice", 100)  # 3 × 16000 fen
    before = len(world.store.transactions)
    with pytest.raises(RiskDeclinedError) as declined:
        await buy(world, "alice", 100)  # 48000 + 16000 > 50000
    assert declined.value.code == "risk_declined" and declined.value.reason == "daily_amount"
    assert len(world.store.transactions) == before  # nothing written
    await buy(world, "alice", 10)  # 48000 + 1700 fits
    [flag] = await open_flags(world, "alice")
    assert (flag.rule, flag.details) == (RiskRule.DAILY_AMOUNT, {"paid_last_24h": 48000, "amount": 16000,
                                                                 "limit": 50000})
    await buy(world, "bob", 100)  # another user's payments are not alice's

    world.advance(hours=24, minutes=1)
    await buy(world, "alice", 100)  # the three payments left the window


async def test_failed_attempts_count_one_hour_and_reopening_is_refused_before_the_unit_of_work():
    world = World()
    bought = await buy(world, "alice", 10)
    session = bought.session
    for _ in range(11):
        await world.pay(session, succeeded=False)
        try:
            session = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
        except RiskDeclinedError:
            break
    with pytest.raises(RiskDeclinedError):
        await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    transaction = world.store.transactions[bought.transaction.id]
    assert sum(s.status.value == "failed" for s in transaction.sessions) == 11
    assert all(s.status.value != "open" for s in transaction.sessions)  # no session was opened
    [flag] = await open_flags(world, "alice")
    assert flag.rule is RiskRule.FAILED_ATTEMPTS

    with pytest.raises(TransactionNotFoundError):  # someone else's transaction: not found as before
        await world.open_session(OpenSessionCommand("mallory", bought.transaction.id))

    world.advance(minutes=61)
    await buy(world, "alice", 1)  # the failures left the window


async def test_a_plan_upgrade_is_declined_inside_its_unit_of_work_and_flagged_after_the_rollback():
    world = World()
    bought = await buy(world, "alice", 10)
    session = bought.session
    for _ in range(11):
        await world.pay(session, succeeded=False)
        if len([s for s in world.store.transactions[bought.transaction.id].sessions]) < 11:
            session = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    before = len(world.store.transactions)
    with pytest.raises(RiskDeclinedError):
        await world.change_plan(ChangePlanCommand("alice", "vip", "alipay"))
    assert len(world.store.transactions) == before  # rolled back
    await world.container.use_cases.risk_gate().settled()
    assert [f.rule for f in await open_flags(world, "alice")] == [RiskRule.FAILED_ATTEMPTS]
    assert (await world.membership("alice")).plan == "basic"


async def test_a_blocked_user_is_refused_every_payment_but_not_a_downgrade():
    world = World()
    await world.change_plan(ChangePlanCommand("carol", "pro", "alipay"))  # pending upgrade, fine
    await risk_store(world).set_blocked("carol", True, reason="fraud", by="boss", now=world.clock.now())
    with pytest.raises(RiskDeclinedError) as declined:
        await buy(world, "carol", 1)
    assert declined.value.reason == "blocked"
    with pytest.raises(RiskDeclinedError):
        await world.change_plan(ChangePlanCommand("carol", "vip", "alipay"))
    assert await open_flags(world, "carol") == []  # a block is the admin's own decision: no flag
    await risk_store(world).set_blocked("carol", False, reason=None, by="boss", now=world.clock.now())
    await buy(world, "carol", 1)


async def test_the_payer_hash_is_keyed_by_the_id_secret_and_per_provider():
    key = payer_key("secret-one")
    hashed = payer_hash(key, "wechat_pay", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert hashed == payer_hash(payer_key("secret-one"), "wechat_pay", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert hashed != payer_hash(payer_key("secret-two"), "wechat_pay", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert hashed != payer_hash(key, "alipay", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
    assert len(hashed) == 64 and "oUpF8u" not in hashed
