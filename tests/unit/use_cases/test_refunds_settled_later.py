"""Refunds the provider settles later, through the refund flow on the in-memory adapters and the
mock with a fixed clock: the mock's refunds answer `pending` (as with
PAYMENTS_MOCK_REFUND_DELAY_SECONDS > 0), the approved refund stays `processing`, and the follow-up
job (`retry_refunds`) asks the mock when it is due (a minute after sending, then backing off) and
records how the refund ended: `succeeded`, or `failed` with the mock's reason under the
`refund_outcome=failed` drill, after which the admin's retry sends the same order id again once the
drill is lifted. The mock's notifications are lost here, so only the follow-ups can settle them."""
import pytest
from builders import buy_and_pay, detail
from world import World

from domain.money import CNY, Money
from domain.refund import RefundStatus
from plugins.mock.faults import REFUND_OUTCOME, Fault
from ports.use_cases.refunds.request_refund import RequestRefundCommand
from ports.use_cases.refunds.review_refund import ReviewCommand

SETTLES_AFTER = 90  # seconds at the mock: after the first follow-up (1 min), before the second (2 min)


@pytest.fixture
async def world():
    world = World()
    plan = world.mock.fault_plan
    plan.refund_delay_seconds = SETTLES_AFTER
    plan.lose_notifications = 1.0  # nothing tells the service: its follow-ups must find out
    yield world
    world.mock.cancel_background()  # the mock's own timers (real seconds); its queries settle by the clock


async def approved_refund(world: World, receives: int = 4):
    bought = await buy_and_pay(world, "alice", 10)
    asked = await world.request_refund(RequestRefundCommand("alice", bought.transaction.id, "bought by mistake",
                                                            receives))
    approved = await world.review_refunds.approve(ReviewCommand("admin1", asked.id, "fine"))
    assert approved.status == "processing"
    return bought, world.store.refunds[asked.id]


async def test_a_refund_the_mock_settles_later_is_followed_up_until_it_succeeds(world):
    bought, refund = await approved_refund(world)
    assert refund.status is RefundStatus.PROCESSING  # the mock answered pending

    assert await world.retry_refunds() == 0  # nothing due before the first follow-up
    world.advance(seconds=60)
    assert await world.retry_refunds() == 1  # asked: still pending at the mock
    assert world.store.refunds[refund.id].status is RefundStatus.PROCESSING
    world.advance(seconds=30)  # the mock has settled it by now, but the next follow-up is at 2 min
    assert await world.retry_refunds() == 0
    world.advance(seconds=30)
    assert await world.retry_refunds() == 1

    settled = world.store.refunds[refund.id]
    assert (settled.status, settled.failure_reason, settled.next_attempt_at) == (RefundStatus.SUCCEEDED, None, None)
    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("partially_refunded", Money(680, CNY))
    assert world.mock._remote.get(refund.payment_order_id).refunded == 680  # noqa: SLF001 (once)
    world.advance(minutes=10)
    assert await world.retry_refunds() == 0  # ended: never followed again


async def test_the_failing_drill_fails_it_with_the_mocks_reason_and_the_admins_retry_succeeds(world):
    world.mock.fault_plan.faults[REFUND_OUTCOME] = Fault("failed", 1.0)  # refund_outcome=failed:1
    bought, refund = await approved_refund(world)

    world.advance(seconds=60)
    await world.retry_refunds()
    world.advance(seconds=60)
    assert await world.retry_refunds() == 1

    failed = world.store.refunds[refund.id]
    assert (failed.status, failed.failure_reason) == (RefundStatus.FAILED, "insufficient_merchant_balance")
    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("succeeded", Money(0, CNY))
    assert (await world.membership("alice")).purchased_remaining == 6  # never given back after approval

    world.mock.fault_plan.faults.clear()  # the merchant topped up: the drill is lifted
    retried = await world.review_refunds.retry(ReviewCommand("admin1", refund.id))
    assert (retried.status, retried.order_id, retried.failure_reason) == ("processing", refund.refund_order_id, None)
    world.advance(seconds=60)
    await world.retry_refunds()
    world.advance(seconds=60)
    assert await world.retry_refunds() == 1

    assert world.store.refunds[refund.id].status is RefundStatus.SUCCEEDED
    transaction = (await detail(world, "alice", bought.transaction.id)).transaction
    assert (transaction.status, transaction.refunded_amount) == ("partially_refunded", Money(680, CNY))
    assert world.mock._remote.get(refund.payment_order_id).refunded == 680  # noqa: SLF001 (once)
