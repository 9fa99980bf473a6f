"""HandleNotification: verified, de-duplicated, matched against the order, applied once; a
confirmed payment is never lost and a transaction is never paid twice."""
import json

import pytest

from builders import (
    buy,
    detail,
    ledger_balance,
    open_parallel_session,
    payment_payload,
    purchase_entries,
    session,
    signed_notification,
    snapshot,
)
from domain.errors import ProviderError, ProviderNotFoundError, ProviderUnavailableError
from domain.money import CNY, Money
from domain.refund import RefundReason, RefundStatus
from domain.session import SessionStatus
from plugins.mock import MockProvider
from ports.payment_provider import PaymentState, RefundOrder, RefundState
from ports.use_cases.payments.cancel_transaction import CancelTransactionCommand
from ports.use_cases.notifications.handle_notification import HandleNotificationCommand
from ports.use_cases.sessions.open_session import OpenSessionCommand
from world import World

ACCEPTED = (200, "application/json; charset=utf-8", b'{"received": true}')


def ack(result):
    a = result.acknowledgement
    return a.status, a.content_type, a.body


# ---------------------------------------------------------------- applying and de-duplicating
async def test_a_confirmed_payment_is_applied_and_acknowledged_as_the_mock_expects():
    world = World()
    bought = await buy(world, "alice", 10)

    result = await world.pay(bought.session)

    assert (result.effect, ack(result)) == ("applied", ACCEPTED)
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.sessions[0].status) == ("succeeded", "completed")
    assert found.sessions[0].completed_at == world.clock.now()
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_notification_delivered_twice_credits_once():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)

    first = await world.notify(headers, body)
    second = await world.notify(headers, body)

    assert (first.effect, second.effect) == ("applied", "duplicate")
    assert ack(second) == ACCEPTED
    assert (await world.membership("alice")).purchased_remaining == 10
    assert len(purchase_entries(world)) == 1
    assert ledger_balance(world).total == (await world.membership("alice")).balance


async def test_a_re_delivered_decline_or_event_we_do_not_act_on_is_a_duplicate_and_changes_nothing():
    world = World()
    bought = await buy(world, "alice", 10)
    declined = world.mock.settle(bought.session.order_id, False)
    disputed = signed_notification(world, payment_payload(world, bought.session, type="payment.disputed"))

    first = [(await world.notify(*declined)).effect, (await world.notify(*disputed)).effect]
    after_first = await snapshot(world, "alice", bought.transaction.id)
    again = [(await world.notify(*declined)).effect, (await world.notify(*disputed)).effect]

    assert (first, again) == (["applied", "ignored"], ["duplicate", "duplicate"])
    assert await snapshot(world, "alice", bought.transaction.id) == after_first
    assert len(world.store.processed_events) == 2


async def test_the_same_payment_reported_under_a_new_event_id_credits_once():
    world = World()
    bought = await buy(world, "alice", 10)

    first = await world.pay(bought.session)
    again = await world.pay(bought.session)  # the mock sends a fresh event id

    assert (first.effect, again.effect) == ("applied", "duplicate")
    assert (await world.membership("alice")).purchased_remaining == 10
    assert world.store.refunds == {}


# ---------------------------------------------------------------- refused notifications
async def test_a_wrong_signature_is_rejected_with_401_and_changes_nothing():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)
    t, _, mac = headers["Mock-Signature"].partition(",v1=")
    forged = {**headers, "Mock-Signature": f"{t},v1={'0' * len(mac)}"}
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(forged, body)

    assert result.effect == "rejected"
    assert result.acknowledgement.status == 401
    assert json.loads(result.acknowledgement.body)["error"]["code"] == "unauthorized"
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_a_body_changed_after_signing_is_rejected():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body.replace(b'"amount":1700', b'"amount":1'))

    assert (result.effect, result.acknowledgement.status) == ("rejected", 401)
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_a_notification_signed_with_another_key_is_rejected():
    world = World()
    bought = await buy(world, "alice", 10)
    _, body = world.mock.settle(bought.session.order_id, True)
    impostor = MockProvider(webhook_secret="not-our-secret", public_url="http://x.test", clock=world.clock)
    headers = {"Mock-Signature": impostor.sign(body, int(world.clock.now().timestamp()))}

    result = await world.notify(headers, body)

    assert (result.effect, result.acknowledgement.status) == ("rejected", 401)
    assert (await world.membership("alice")).purchased_remaining == 0


@pytest.mark.parametrize("headers", [{}, {"Content-Type": "application/json"}, {"Mock-Signature": ""},
                                     {"Mock-Signature": "v1=abc"}, {"Mock-Signature": "t=soon,v1=abc"}])
async def test_a_missing_or_malformed_signature_header_is_rejected(headers):
    world = World()
    bought = await buy(world, "alice", 10)
    _, body = world.mock.settle(bought.session.order_id, True)
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, result.acknowledgement.status) == ("rejected", 401)
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_a_stale_notification_is_rejected_and_changes_nothing():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)
    world.advance(seconds=301)
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, result.acknowledgement.status) == ("rejected", 401)
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_a_notification_exactly_300_seconds_old_is_still_accepted():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)
    world.advance(seconds=300)

    result = await world.notify(headers, body)

    assert result.effect == "applied"


async def test_a_notification_dated_more_than_300_seconds_ahead_is_rejected():
    world = World()
    bought = await buy(world, "alice", 10)
    future = int(world.clock.now().timestamp()) + 301
    headers, body = signed_notification(world, payment_payload(world, bought.session, created=future),
                                        timestamp=future)

    result = await world.notify(headers, body)

    assert result.effect == "rejected"


async def test_a_rejected_notification_does_not_use_up_its_event_id():
    world = World()
    bought = await buy(world, "alice", 10)
    payload = payment_payload(world, bought.session)
    headers, body = signed_notification(world, payload)
    await world.notify({}, body)

    result = await world.notify(headers, body)

    assert result.effect == "applied"
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_signed_but_unreadable_body_is_rejected():
    world = World()
    await buy(world, "alice", 10)
    body = b"this is not json"
    headers = {"Mock-Signature": world.mock.sign(body, int(world.clock.now().timestamp()))}

    result = await world.notify(headers, body)

    assert result.effect == "rejected"


async def test_an_unknown_provider_is_not_found():
    world = World()

    with pytest.raises(ProviderNotFoundError) as raised:
        await world.handle_notification(HandleNotificationCommand("paypal", {}, b"{}"))

    assert raised.value.code == "not_found"


# ---------------------------------------------------------------- authentic but not matching
async def test_an_authentic_notification_with_another_amount_is_an_anomaly_and_changes_nothing():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = signed_notification(world, payment_payload(world, bought.session, amount=1))
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, ack(result)) == ("anomaly", ACCEPTED)
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_an_authentic_notification_in_another_currency_is_an_anomaly():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = signed_notification(world, payment_payload(world, bought.session, currency="USD"))
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, result.acknowledgement.status) == ("anomaly", 200)
    assert await snapshot(world, "alice", bought.transaction.id) == before


@pytest.mark.parametrize("currency", ["EUR", "cny"])
async def test_an_authentic_notification_in_a_currency_we_do_not_know_is_an_anomaly_not_a_forgery(currency):
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = signed_notification(world, payment_payload(world, bought.session, currency=currency))
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, ack(result)) == ("anomaly", ACCEPTED)  # acknowledged: the provider stops re-sending
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_an_authentic_notification_for_an_unknown_order_is_an_anomaly():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = signed_notification(world, payment_payload(world, bought.session, order_id="S20260131NOSUCHORDER"))
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, result.acknowledgement.status) == ("anomaly", 200)
    assert await snapshot(world, "alice", bought.transaction.id) == before


async def test_an_anomaly_does_not_stop_the_genuine_payment_from_being_applied():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.notify(*signed_notification(world, payment_payload(world, bought.session, amount=1)))

    result = await world.pay(bought.session)

    assert result.effect == "applied"
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_an_authentic_event_of_a_type_we_do_not_act_on_is_acknowledged_and_ignored():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = signed_notification(world, payment_payload(world, bought.session, type="payment.disputed"))
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(headers, body)

    assert (result.effect, ack(result)) == ("ignored", ACCEPTED)
    assert await snapshot(world, "alice", bought.transaction.id) == before


# ---------------------------------------------------------------- declined attempts
async def test_a_declined_attempt_leaves_the_transaction_pending_for_a_retry():
    world = World()
    bought = await buy(world, "alice", 10)

    result = await world.pay(bought.session, succeeded=False)

    assert (result.effect, ack(result)) == ("applied", ACCEPTED)
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.transaction.failure_reason) == ("pending", "declined")
    assert [s.status for s in found.sessions] == ["failed"]
    assert (await world.membership("alice")).purchased_remaining == 0


async def test_after_a_declined_attempt_a_new_session_can_be_opened_and_paid():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)
    world.advance(minutes=2)

    retry = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))
    result = await world.pay(retry)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert found.transaction.status == "succeeded"
    assert [s.status for s in found.sessions] == ["failed", "completed"]
    assert retry.order_id != bought.session.order_id
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_payment_confirmed_after_a_decline_of_the_same_order_is_still_applied():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session, succeeded=False)

    result = await world.pay(bought.session)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.sessions[0].status) == ("succeeded", "completed")
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_decline_reported_for_an_already_paid_session_is_ignored():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.pay(bought.session)
    before = await snapshot(world, "alice", bought.transaction.id)

    result = await world.notify(*signed_notification(
        world, payment_payload(world, bought.session, type="payment.failed")))

    assert result.effect == "ignored"
    assert await snapshot(world, "alice", bought.transaction.id) == before


# ---------------------------------------------------------------- late payments are never lost
async def test_a_late_payment_for_a_cancelled_transaction_succeeds_it_and_delivers():
    world = World()
    bought = await buy(world, "alice", 10)
    await world.cancel_transaction(CancelTransactionCommand("alice", bought.transaction.id, "changed my mind"))
    world.advance(minutes=5)

    result = await world.pay(bought.session)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.transaction.completed_at) == ("succeeded", world.clock.now())
    assert found.sessions[0].status == "completed"
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_late_payment_for_an_expired_transaction_succeeds_it_and_delivers():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=1, minutes=1)
    await world.expire_sessions()
    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "expired"

    result = await world.pay(bought.session)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert (found.transaction.status, found.sessions[0].status) == ("succeeded", "completed")
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_payment_confirmed_after_expires_at_but_before_the_sweep_is_applied():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(hours=2)

    result = await world.pay(bought.session)

    assert result.effect == "applied"
    assert (await detail(world, "alice", bought.transaction.id)).transaction.status == "succeeded"
    assert (await world.membership("alice")).purchased_remaining == 10


# ---------------------------------------------------------------- paid twice
async def _paid_twice(world: World):
    """Session A replaced by session B; B is paid, then A is paid late (the payer had scanned it)."""
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    b = await world.open_session(OpenSessionCommand("alice", bought.transaction.id, "alipay"))
    paid_b = await world.pay(b)
    world.advance(minutes=1)
    paid_a = await world.pay(bought.session)
    return bought, bought.session, b, paid_b, paid_a


async def test_a_second_paid_session_of_a_paid_transaction_is_refunded_and_credits_nothing():
    world = World()

    bought, a, b, paid_b, paid_a = await _paid_twice(world)

    assert (paid_b.effect, paid_a.effect) == ("applied", "refunded_duplicate")
    assert ack(paid_a) == ACCEPTED
    found = await detail(world, "alice", bought.transaction.id)
    assert [(s.id, s.status) for s in found.sessions] == [(a.id, "refunded"), (b.id, "completed")]
    assert (await session(world, "alice", a.id)).status == "refunded"
    assert found.transaction.status == "succeeded"
    assert found.transaction.refunded_amount == Money(0, CNY)
    assert (await world.membership("alice")).purchased_remaining == 10
    assert len(purchase_entries(world)) == 1


async def test_the_duplicate_payment_is_refunded_at_the_provider_in_full():
    world = World()

    bought, a, _, _, _ = await _paid_twice(world)

    [refund] = world.store.refunds.values()
    assert (refund.status, refund.reason) == (RefundStatus.SUCCEEDED, RefundReason.DUPLICATE_PAYMENT)
    assert (refund.session_id, refund.transaction_id) == (a.id, bought.transaction.id)
    assert (refund.payment_order_id, refund.amount) == (a.order_id, Money(1700, CNY))
    at_provider = await world.mock.query_refund(refund.refund_order_id, a.order_id)
    assert at_provider.state is RefundState.SUCCEEDED
    with pytest.raises(ProviderError):  # nothing is left to refund on that order
        await world.mock.refund(RefundOrder("Rsomethingelse1", a.order_id, Money(1, CNY), Money(1700, CNY), "x"))


async def test_a_redelivered_duplicate_payment_is_not_refunded_twice():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    b = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    await world.pay(b)
    headers, body = world.mock.settle(bought.session.order_id, True)
    await world.notify(headers, body)

    again = await world.notify(headers, body)
    once_more = await world.pay(bought.session)

    assert (again.effect, once_more.effect) == ("duplicate", "duplicate")
    assert len(world.store.refunds) == 1
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_two_sessions_paid_when_the_replaced_order_could_not_be_closed():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    world.mock.inject_fault("close_payment", ProviderUnavailableError("timeout"))
    b = await world.open_session(OpenSessionCommand("alice", bought.transaction.id))
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.PENDING

    first = await world.pay(bought.session)
    second = await world.pay(b)

    assert (first.effect, second.effect) == ("applied", "refunded_duplicate")
    found = await detail(world, "alice", bought.transaction.id)
    assert [s.status for s in found.sessions] == ["completed", "refunded"]
    assert [r.status for r in world.store.refunds.values()] == [RefundStatus.SUCCEEDED]
    assert found.transaction.refunded_amount == Money(0, CNY)
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_paying_one_session_cancels_the_other_open_sessions_and_closes_their_orders():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=1)
    other = await open_parallel_session(world, "alice", bought.transaction.id)

    result = await world.pay(other)

    assert result.effect == "applied"
    found = await detail(world, "alice", bought.transaction.id)
    assert [(s.id, s.status) for s in found.sessions] == [(bought.session.id, "cancelled"), (other.id, "completed")]
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.CLOSED


async def test_paying_one_session_expires_another_that_is_open_past_its_expiry():
    world = World()
    bought = await buy(world, "alice", 10)
    world.advance(minutes=50)
    other = await open_parallel_session(world, "alice", bought.transaction.id)
    world.advance(minutes=15)  # the first session's expires_at has passed; no sweep yet

    await world.pay(other)

    assert world.store.sessions[bought.session.id].status is SessionStatus.EXPIRED
    assert world.store.sessions[other.id].status is SessionStatus.COMPLETED
    assert (await world.mock.query_payment(bought.session.order_id)).state is PaymentState.CLOSED


class _DatabaseAway(set):
    """Stands for the store of processed events while the database does not answer."""

    def __contains__(self, item: object) -> bool:
        raise ConnectionError("the database went away")


async def test_a_notification_that_cannot_be_processed_now_asks_for_a_redelivery_and_is_applied_then():
    world = World()
    bought = await buy(world, "alice", 10)
    headers, body = world.mock.settle(bought.session.order_id, True)
    processed = world.store.processed_events
    world.store.processed_events = _DatabaseAway()

    result = await world.notify(headers, body)

    assert result.effect == "retry"
    assert result.acknowledgement.status >= 500  # the mock's "send it again"
    assert (await world.membership("alice")).purchased_remaining == 0
    world.store.processed_events = processed
    redelivered = await world.notify(headers, body)
    assert (redelivered.effect, (await world.membership("alice")).purchased_remaining) == ("applied", 10)
    assert (await world.notify(headers, body)).effect == "duplicate"
