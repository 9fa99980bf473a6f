"""The refund aggregate: requested → processing → succeeded | failed, requested → rejected |
cancelled, failed → processing again (the same refund number)."""
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from domain import events
from domain.errors import InvalidTransitionError
from domain.money import CNY, Money
from domain.refund import TRANSITIONS, Refund, RefundKind, RefundReason, RefundStatus
from domain.session import PaymentSession
from domain.transitions import check_transition, terminal_states

R = RefundStatus
T0 = datetime(2025, 1, 31, 10, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=10)

EXPECTED_TRANSITIONS = {
    R.REQUESTED: {R.PROCESSING, R.REJECTED, R.CANCELLED},
    R.PROCESSING: {R.SUCCEEDED, R.FAILED},
    R.FAILED: {R.PROCESSING},
    R.SUCCEEDED: set(), R.REJECTED: set(), R.CANCELLED: set(),
}
MOVES = {
    R.SUCCEEDED: lambda r, now: r.succeed("re_123", now),
    R.FAILED: lambda r, now: r.fail(now),
}
# How a refund reaches each status (from processing, where an automatic one starts).
PATHS = {
    R.PROCESSING: [], R.SUCCEEDED: [R.SUCCEEDED], R.FAILED: [R.FAILED],
}


def duplicate_session() -> PaymentSession:
    session = PaymentSession.open(
        id="ps_2", transaction_id="txn_1", user_id="u1", order_id="S2", payment_method="alipay",
        provider="mock", amount=Money(1700, CNY), return_url=None, expires_at=T0 + timedelta(hours=1), now=T0)
    session.refund_duplicate(T0 + timedelta(minutes=2))
    return session


def pending_refund() -> Refund:
    return Refund.for_duplicate_payment(id="rf_1", refund_order_id="R1", session=duplicate_session(), now=T0)


def refund_in(status: RefundStatus) -> Refund:
    refund = pending_refund()
    for step in PATHS[status]:
        MOVES[step](refund, T0)
    refund.events.clear()
    return refund


def snapshot(refund: Refund) -> tuple:
    return refund.status, refund.provider_reference, refund.completed_at, refund.updated_at, list(refund.events)


def test_a_duplicate_payment_refund_returns_the_whole_session_amount_to_its_payer():
    refund = pending_refund()

    assert refund.status is R.PENDING
    assert refund.reason == RefundReason.DUPLICATE_PAYMENT.value
    assert (refund.kind, refund.requested_by, refund.receives, refund.ends_plan) == (RefundKind.AUTOMATIC, None, None, False)
    assert refund.amount == Money(1700, CNY)
    assert (refund.transaction_id, refund.session_id, refund.user_id) == ("txn_1", "ps_2", "u1")
    assert (refund.provider, refund.payment_order_id, refund.refund_order_id) == ("mock", "S2", "R1")
    assert (refund.created_at, refund.updated_at, refund.completed_at) == (T0, T0, None)
    assert refund.events == [events.DuplicatePaymentRefunded(T0, "txn_1", "ps_2", "rf_1")]


def test_refunds_are_the_same_entity_when_their_ids_are():
    assert pending_refund() == refund_in(R.FAILED)
    assert len({pending_refund(), refund_in(R.SUCCEEDED)}) == 1


def test_a_refund_succeeds_with_the_providers_reference():
    refund = pending_refund()

    refund.succeed("re_123", LATER)

    assert refund.status is R.SUCCEEDED
    assert refund.provider_reference == "re_123"
    assert (refund.completed_at, refund.updated_at) == (LATER, LATER)


def test_a_refund_can_fail():
    refund = pending_refund()

    refund.fail(LATER)

    assert refund.status is R.FAILED
    assert refund.provider_reference is None
    assert (refund.completed_at, refund.updated_at) == (LATER, LATER)


def test_the_refund_statuses_and_reasons_have_stable_values():
    assert {s.value for s in R} == {"requested", "processing", "succeeded", "failed", "rejected", "cancelled"}
    assert R.PENDING is R.PROCESSING  # the old name
    assert {r.value for r in RefundReason} == {"duplicate_payment", "stale_plan_change", "requested_by_customer"}


def test_the_transition_table_is_the_refunds_life():
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED_TRANSITIONS
    assert terminal_states(TRANSITIONS) == {R.SUCCEEDED, R.REJECTED, R.CANCELLED}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(R, R)))
def test_the_table_allows_exactly_the_listed_moves(current, target):
    if target in EXPECTED_TRANSITIONS[current]:
        check_transition(TRANSITIONS, "refund", current, target)
    else:
        with pytest.raises(InvalidTransitionError):
            check_transition(TRANSITIONS, "refund", current, target)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(PATHS, MOVES)))
def test_each_move_is_allowed_exactly_when_the_table_allows_it(current, target):
    refund = refund_in(current)
    before = snapshot(refund)

    if target in EXPECTED_TRANSITIONS[current]:
        MOVES[target](refund, LATER)
        assert refund.status is target
        assert refund.completed_at == LATER
    else:
        with pytest.raises(InvalidTransitionError) as raised:
            MOVES[target](refund, LATER)
        assert (raised.value.current, raised.value.target) == (current.value, target.value)
        assert snapshot(refund) == before


# ---------------------------------------------------------------------- following a pending refund
def test_a_new_refund_is_first_followed_a_minute_after_it_was_made():
    assert pending_refund().next_attempt_at == T0 + timedelta(minutes=1)


def test_each_follow_up_waits_longer_up_to_an_hour_and_an_ended_refund_has_none():
    from domain.refund import FOLLOW_UP_LIMIT, MAX_FOLLOW_UP_WAIT

    refund = pending_refund()
    waits = []
    now = refund.next_attempt_at
    while refund.take_follow_up(now):
        waits.append(refund.next_attempt_at - now)
        now = refund.next_attempt_at
    assert waits == sorted(waits) and waits[0] <= timedelta(minutes=2) and max(waits) == MAX_FOLLOW_UP_WAIT
    assert len(waits) < 100  # not one a minute for 72 hours
    assert now - T0 >= FOLLOW_UP_LIMIT == timedelta(hours=72)
    assert (refund.status, refund.next_attempt_at, refund.completed_at) == (R.FAILED, None, now)

    settled = pending_refund()
    settled.succeed("re_1", LATER)
    assert settled.next_attempt_at is None and settled.take_follow_up(LATER + timedelta(hours=1)) is False


def test_a_follow_up_taken_before_it_is_due_is_refused():
    refund = pending_refund()
    with pytest.raises(ValueError):
        refund.take_follow_up(T0)
