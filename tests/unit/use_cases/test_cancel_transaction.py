"""CancelTransaction: only a pending transaction can be cancelled; its open sessions are cancelled
and their provider orders closed."""
import pytest

from builders import buy, detail, open_parallel_session, upgrade
from domain.errors import InvalidTransitionError, ProviderUnavailableError, TransactionNotFoundError
from ports.payment_provider import PaymentState
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from world import World


async def cancel(world, user, transaction_id, reason=None):
    return await world.cancel_transaction(CancelTransactionCommand(user, transaction_id, reason))


async def test_a_pending_transaction_is_cancelled_with_its_reason():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=4)

    cancelled = await cancel(world, "alice", bought.transaction.id, "changed my mind")

    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", "changed my mind")
    assert cancelled.updated_at == world.clock.now()
    assert (await detail(world, "alice", bought.transaction.id)).transaction == cancelled


async def test_a_reason_is_optional():
    world = World()
    bought = await buy(world, "alice", 10)

    cancelled = await cancel(world, "alice", bought.transaction.id)

    assert (cancelled.status, cancelled.cancel_reason) == ("cancelled", None)


async def test_cancelling_cancels_the_open_sessions_and_closes_their_provider_orders():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    parallel = await open_parallel_session(world, "alice", bought.transaction.id)

    await cancel(world, "alice", bought.transaction.id)

    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["cancelled", "cancelled"]
    for s in (bought.session, parallel):
        assert (await world.mock.query_payment(s.order_id)).state is PaymentState.CLOSED


async def test_cancelling_leaves_ended_sessions_as_they_were():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)

    await cancel(world, "alice", bought.transaction.id)

    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["failed"]


async def test_a_cancelled_transaction_frees_a_pending_slot():
    world = World(max_pending=1)
    bought = await buy(world, "alice", 10)

    await cancel(world, "alice", bought.transaction.id)
    again = await buy(world, "alice", 5)

    assert again.transaction.status == "pending"


async def test_a_pending_plan_upgrade_can_be_cancelled():
    world = World()
    started = await upgrade(world, "alice", "pro")

    cancelled = await cancel(world, "alice", started.transaction.id)

    assert cancelled.status == "cancelled"
    assert (await world.mock.query_payment(started.session.order_id)).state is PaymentState.CLOSED
    assert (await world.membership("alice")).plan == "basic"


@pytest.mark.parametrize("settle", ["paid", "cancelled", "expired"])
async def test_only_a_pending_transaction_can_be_cancelled(settle):
    world = World()
    bought = await buy(world, "alice", 10)
    if settle == "paid":
        await world.pay(bought.session)
    elif settle == "cancelled":
        await cancel(world, "alice", bought.transaction.id, "first")
    else:
        world.advance(hours=2)
        await world.expire_sessions()
    before = await detail(world, "alice", bought.transaction.id)

    with pytest.raises(InvalidTransitionError) as raised:
        await cancel(world, "alice", bought.transaction.id, "second")

    assert raised.value.code == "invalid_state"
    assert await detail(world, "alice", bought.transaction.id) == before


async def test_someone_elses_transaction_is_not_found_and_stays_pending():
    world = World()
    bought = await buy(world, "alice", 10)

    with pytest.raises(TransactionNotFoundError):
        await cancel(world, "mallory", bought.transaction.id)

    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "pending"


async def test_a_provider_that_cannot_close_the_order_does_not_stop_the_cancellation():
    world = World()
    bought = await buy(world, "alice", 10)
    world.mock.inject_fault("close_payment", ProviderUnavailableError("timeout"))

    cancelled = await cancel(world, "alice", bought.transaction.id)

    assert cancelled.status == "cancelled"
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.PENDING
    # the payer can still pay the order that stayed open: the payment is not lost
    await world.pay(bought.session)
    assert (await world.membership("alice")).purchased_remaining == 10
