"""ExpireSessions: the sweep stores `expired` on sessions past `expires_at`, expires pending
transactions whose attempts have all lapsed, closes the provider orders, and is idempotent."""
import pytest

from builders import buy, detail, upgrade, OPEN_ATTEMPTS
from domain.errors import ProviderUnavailableError
from ports.payment_provider import PaymentState
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from ports.use_cases.sessions.expire_sessions import ExpiryReport
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World


async def test_sessions_past_expiry_and_their_transactions_are_expired_and_orders_closed():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=1)

    report = await world.expire_sessions()

    assert report == ExpiryReport(sessions_expired=1, transactions_expired=1)
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.transaction.updated_at) == ("expired", world.clock.now())
    assert [s.status for s in found.sessions] == ["expired"]
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.CLOSED


async def test_younger_sessions_and_their_transactions_stay_open():
    world = World()
    old = await buy(world, "alice", 10)
    world.advance(minutes=30)
    young = await buy(world, "alice", 5)
    world.advance(minutes=31)

    report = await world.expire_sessions()

    assert report == ExpiryReport(1, 1)
    assert (await detail(world, "alice", old.transaction.id)).transaction.status == "expired"
    found = await detail(world, "alice", young.transaction.id)
    assert (found.transaction.status, found.sessions[0].status) == ("pending", "open")
    assert (await world.mock.query_payment(young.session.order_id)).state is PaymentState.PENDING


async def test_a_transaction_whose_only_session_failed_expires_once_that_sessions_expiry_passed():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)
    world.advance(minutes=59)
    assert await world.expire_sessions() == ExpiryReport(0, 0)
    world.advance(minutes=1)

    report = await world.expire_sessions()

    assert report == ExpiryReport(sessions_expired=0, transactions_expired=1)
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.transaction.failure_reason) == ("expired", "declined")
    assert [s.status for s in found.sessions] == ["failed"]


async def test_a_transaction_whose_session_failed_at_the_provider_expires_too():
    world = World()
    world.mock.inject_fault("open_payment", ProviderUnavailableError("down"), times=OPEN_ATTEMPTS)
    with pytest.raises(ProviderUnavailableError):
        await buy(world, "alice", 10)
    world.advance(hours=1, seconds=1)

    assert await world.expire_sessions() == ExpiryReport(0, 1)


async def test_a_transaction_is_not_expired_while_a_newer_session_is_open():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=40)
    newer = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    world.advance(minutes=30)  # the first session's expiry has passed, the newer one's has not

    report = await world.expire_sessions()

    assert report == ExpiryReport(0, 0)
    found = await detail(world, "alice", bought.transaction.id)
    assert found.transaction.status == "pending"
    assert [s.status for s in found.sessions] == ["cancelled", "open"]
    assert newer.status == "open"


async def test_running_the_sweep_twice_changes_nothing_the_second_time():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=2)
    await world.expire_sessions()
    after_first = await detail(world, "alice", bought.transaction.id)
    world.advance(minutes=5)

    report = await world.expire_sessions()

    assert report == ExpiryReport(0, 0)
    assert await detail(world, "alice", bought.transaction.id) == after_first


async def test_paid_and_cancelled_transactions_are_left_alone():
    world = World()
    paid = await buy(world, "alice", 10)
    await world.pay(paid.session)
    cancelled = await buy(world, "alice", 5)
    await world.cancel_transaction(CancelTransactionCommand("alice", cancelled.transaction.id))
    world.advance(days=2)

    report = await world.expire_sessions()

    assert report == ExpiryReport(0, 0)
    assert (await detail(world, "alice", paid.transaction.id)).transaction.status == "succeeded"
    assert (await detail(world, "alice", cancelled.transaction.id)).transaction.status == "cancelled"


async def test_an_expired_plan_upgrade_leaves_the_plan_unchanged():
    world = World()
    started = await upgrade(world, "alice", "pro")
    world.advance(hours=1)

    await world.expire_sessions()

    assert (await detail(world, "alice", started.transaction.id)).transaction.status == "expired"
    assert (await world.membership("alice")).plan == "basic"


async def test_a_sweep_in_small_batches_finishes_on_later_runs():
    world = World()
    bought = [await buy(world, user, 10) for user in ("alice", "bob", "carol")]
    world.advance(hours=1)
    world.expire_sessions.batch_size = 2

    first = await world.expire_sessions()
    second = await world.expire_sessions()

    assert first.sessions_expired + second.sessions_expired == 3
    assert first.transactions_expired + second.transactions_expired == 3
    for b, user in zip(bought, ("alice", "bob", "carol")):
        found = await detail(world, user, b.transaction.id)
        assert (found.transaction.status, found.sessions[0].status) == ("expired", "expired")
        assert (await world.mock.query_payment(b.session.order_id)).state is PaymentState.CLOSED


async def test_an_order_the_provider_cannot_close_still_expires_here():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=1)
    world.mock.inject_fault("close_payment", ProviderUnavailableError("timeout"))

    report = await world.expire_sessions()

    assert report == ExpiryReport(1, 1)
    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "expired"


async def test_a_payment_made_just_before_the_sweep_is_still_applied_when_its_notification_arrives_after():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=59, seconds=50)
    headers, body = world.mock.settle(bought.session.order_id, True)  # paid at the provider
    world.advance(seconds=20)

    await world.expire_sessions()  # the provider refuses to close a paid order
    result = await world.notify(headers, body)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.sessions[0].status) == ("succeeded", "completed")
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.SUCCEEDED
    assert (await world.membership("alice")).purchased_remaining == 10
