"""SubmitRefund: a refund row is sent to its provider under its own refund number, so sending it
again after a failure or a lost answer never refunds twice."""
import pytest

from builders import buy, detail, session
from domain.errors import ProviderError, ProviderUnavailableError, RefundNotFoundError
from domain.money import CNY, Money
from domain.refund import RefundStatus
from ports.payment_provider import RefundOrder, RefundState
from ports.use_cases.sessions.open_session import OpenSessionCommand
from ports.payment_provider import ProviderEvent, ProviderEventKind
from world import World


async def pay_twice(world: World):
    """Alice's purchase paid by session B, then by the replaced session A: A's payment is the
    duplicate to refund. Returns (transaction id, session A)."""
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    b = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    await world.pay(b)
    result = await world.pay(bought.session)
    assert result.effect == "refunded_duplicate"
    return bought.transaction.id, bought.session


def the_refund(world):
    [refund] = world.store.refunds.values()
    return refund


async def assert_refunded_exactly_once_at_the_provider(world, refund):
    assert (await world.mock.query_refund(refund.refund_order_id, refund.payment_order_id)).state \
        is RefundState.SUCCEEDED
    with pytest.raises(ProviderError, match="exceeds"):  # the whole payment went back once
        await world.mock.refund(RefundOrder("Ranotherrefund1", refund.payment_order_id, Money(1, CNY),
                                            refund.amount, "probe"))


async def test_a_duplicate_payment_is_refunded_at_once_when_the_provider_accepts():
    world = World()

    _, a = await pay_twice(world)

    refund = the_refund(world)
    assert (refund.status, refund.completed_at) == (RefundStatus.SUCCEEDED, world.clock.now())
    assert refund.provider_reference == f"mock_re_{refund.refund_order_id}"
    assert (refund.amount, refund.payment_order_id, refund.provider) == (Money(1700, CNY), a.order_id, "mock")
    await assert_refunded_exactly_once_at_the_provider(world, refund)


async def test_a_provider_failure_leaves_the_refund_pending():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))

    transaction_id, a = await pay_twice(world)

    refund = the_refund(world)
    assert (refund.status, refund.completed_at) == (RefundStatus.PENDING, None)
    assert (await session(world, "alice", a.id)).status == "refunded"
    assert (await detail(world, "alice", transaction_id)).transaction.refunded_amount == Money(0, CNY)
    with pytest.raises(RefundNotFoundError):  # the provider never received it
        await world.mock.query_refund(refund.refund_order_id, a.order_id)


async def test_a_pending_refund_submitted_again_later_succeeds_once():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)
    refund_id = the_refund(world).id
    world.advance(minutes=10)

    status = await world.submit_refund(refund_id)
    again = await world.submit_refund(refund_id)

    assert (status, again) == ("succeeded", "succeeded")
    refund = the_refund(world)
    assert (refund.status, refund.completed_at) == (RefundStatus.SUCCEEDED, world.clock.now())
    await assert_refunded_exactly_once_at_the_provider(world, refund)


async def test_several_failures_in_a_row_keep_the_refund_pending_until_one_gets_through():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"), times=3)
    await pay_twice(world)
    refund_id = the_refund(world).id

    statuses = [await world.submit_refund(refund_id) for _ in range(3)]

    assert statuses == ["processing", "processing", "succeeded"]
    await assert_refunded_exactly_once_at_the_provider(world, the_refund(world))


async def test_a_refund_the_provider_took_but_whose_answer_was_lost_is_not_taken_twice():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)
    refund = the_refund(world)
    # the remote did process it; only its answer never reached us
    await world.mock.refund(RefundOrder(refund.refund_order_id, refund.payment_order_id, refund.amount,
                                        refund.amount, refund.reason))

    status = await world.submit_refund(refund.id)

    assert status == "succeeded"
    await assert_refunded_exactly_once_at_the_provider(world, the_refund(world))


async def test_a_refused_refund_fails_and_is_sent_again_only_when_an_admin_retries_it():
    from ports.use_cases.refunds.review_refund import ReviewCommand

    world = World()
    world.mock.inject_fault("refund", ProviderError("refused for now"))
    await pay_twice(world)

    refund = the_refund(world)
    assert (refund.status, refund.failure_reason) == (RefundStatus.FAILED, "refused_by_provider")
    assert await world.submit_refund(refund.id) == "failed"  # nothing is sent for a failed refund
    retried = await world.review_refunds.retry(ReviewCommand("admin1", refund.id))
    assert (retried.order_id, the_refund(world).status) == (refund.refund_order_id, RefundStatus.SUCCEEDED)


async def test_an_unknown_refund_cannot_be_submitted():
    world = World()

    with pytest.raises(LookupError):
        await world.submit_refund("rf_nope")


async def test_the_retry_job_sends_again_only_refunds_pending_for_a_minute():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)

    assert await world.retry_refunds() == 0  # too young: the first attempt may still be under way
    world.advance(minutes=2)
    assert await world.retry_refunds() == 1
    assert await world.retry_refunds() == 0  # nothing pending any more

    refund = the_refund(world)
    assert refund.status is RefundStatus.SUCCEEDED
    await assert_refunded_exactly_once_at_the_provider(world, refund)


async def test_a_refund_notification_settles_a_pending_refund_once():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)
    refund = the_refund(world)
    event = ProviderEvent(event_id="evt_refund_1", kind=ProviderEventKind.REFUND_SUCCEEDED,
                          order_id=refund.payment_order_id, refund_order_id=refund.refund_order_id,
                          provider_reference="re_1")

    first = await world.handle_notification.apply_event(world.mock, event)
    again = await world.handle_notification.apply_event(world.mock, event)

    assert (first, again) == ("applied", "duplicate")
    settled = the_refund(world)
    assert (settled.status, settled.provider_reference) == (RefundStatus.SUCCEEDED, "re_1")


async def test_following_a_refund_the_provider_took_asks_it_and_sends_nothing_again():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)
    refund = the_refund(world)
    await world.mock.refund(RefundOrder(refund.refund_order_id, refund.payment_order_id, refund.amount,
                                        refund.amount, refund.reason))  # taken; the answer was lost
    world.mock.inject_fault("refund", ProviderError("a second refund call would be refused"))
    world.advance(minutes=2)

    assert await world.retry_refunds() == 1

    assert the_refund(world).status is RefundStatus.SUCCEEDED  # from the query, not from a second call
    with pytest.raises(ProviderError, match="would be refused"):  # the fault is still waiting: no call came
        await world.mock.refund(RefundOrder("Rprobe", refund.payment_order_id, Money(1, CNY), refund.amount, "probe"))
    await assert_refunded_exactly_once_at_the_provider(world, the_refund(world))


async def test_following_a_refund_whose_provider_cannot_answer_leaves_it_pending():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"))
    await pay_twice(world)
    world.mock.inject_fault("query_refund", ProviderUnavailableError("timeout"))
    world.advance(minutes=2)

    assert await world.submit_refund.follow(the_refund(world).id) is RefundStatus.PENDING
    assert await world.submit_refund.follow(the_refund(world).id) is RefundStatus.SUCCEEDED  # sent again


async def test_a_refund_the_provider_never_settles_is_followed_with_backoff_then_failed_for_an_admin():
    world = World()
    world.mock.inject_fault("refund", ProviderUnavailableError("timeout"), times=10_000)
    world.mock.inject_fault("query_refund", ProviderUnavailableError("timeout"), times=10_000)
    await pay_twice(world)

    followed = []
    for _ in range(73 * 60):  # the job runs every minute for 73 hours
        world.advance(minutes=1)
        followed.append(await world.retry_refunds())

    assert sum(followed) < 120  # backing off, not one call a minute (4380)
    assert followed[-60:] == [0] * 60  # given up after 72 hours
    refund = the_refund(world)
    assert (refund.status, refund.next_attempt_at) == (RefundStatus.FAILED, None)
