"""The transaction aggregate: named constructors, its transition table, late and double payments."""
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from domain import events
from domain.catalog import DEFAULT_CATALOG, PlanId
from domain.errors import InvalidTransitionError
from domain.membership import Proration
from domain.money import CNY, Money
from domain.transaction import (
    LATE_PAYMENT_STATES,
    PLAN_CHANGE_TYPES,
    TRANSITIONS,
    Transaction,
    TransactionStatus,
    TransactionType,
)
from domain.transitions import check_transition, terminal_states

S = TransactionStatus
T0 = datetime(2025, 1, 31, 10, tzinfo=timezone.utc)
LATER = T0 + timedelta(minutes=5)

# The contract's table, written out independently of the code's.
EXPECTED_TRANSITIONS = {
    S.PENDING: {S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED},
    S.CANCELLED: {S.SUCCEEDED},
    S.EXPIRED: {S.SUCCEEDED},
    S.SUCCEEDED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.PARTIALLY_REFUNDED: {S.PARTIALLY_REFUNDED, S.REFUNDED},
    S.FAILED: set(),
    S.REFUNDED: set(),
}
PAID_STATES = {S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED}

# The methods that move a transaction, by the status they move it to.
MOVES = {
    S.SUCCEEDED: lambda t, now: t.mark_paid("ps_2", now),
    S.CANCELLED: lambda t, now: t.cancel("changed my mind", now),
    S.EXPIRED: lambda t, now: t.expire(now),
    S.FAILED: lambda t, now: t.fail("card_declined", now),
}


def cny(amount: int) -> Money:
    return Money(amount, CNY)


def pending_purchase(now: datetime = T0) -> Transaction:
    return Transaction.purchase_receives(
        id="txn_1", order_id="P20250131A1B2C3D4", user_id="u1", quote=DEFAULT_CATALOG.receives.quote(10),
        payment_method="wechat_pay", provider="mock", now=now)


def transaction_in(status: TransactionStatus) -> Transaction:
    """A stored purchase read back in `status`, with no events of its own yet."""
    return Transaction(
        id="txn_1", order_id="P20250131A1B2C3D4", user_id="u1", type=TransactionType.PURCHASE_RECEIVES,
        status=status, payment_method="wechat_pay", provider="mock", subtotal=cny(2000), discount=cny(300),
        total=cny(1700), receives=10, plan_from=None, plan_to=None, proration=None, refunded_amount=cny(0),
        cancel_reason=None, failure_reason=None, created_at=T0, updated_at=T0,
        completed_at=T0 if status in PAID_STATES else None,
        paid_session_id="ps_1" if status in PAID_STATES else None)


def snapshot(transaction: Transaction) -> tuple:
    return (transaction.status, transaction.paid_session_id, transaction.cancel_reason, transaction.failure_reason,
            transaction.completed_at, transaction.updated_at, list(transaction.events))


# ---------------------------------------------------------------------- constructors


def test_a_receives_purchase_starts_pending_with_the_quoted_amounts():
    transaction = pending_purchase()

    assert transaction.status is S.PENDING
    assert transaction.is_pending and not transaction.is_paid
    assert transaction.type is TransactionType.PURCHASE_RECEIVES
    assert (transaction.subtotal, transaction.discount, transaction.total) == (cny(2000), cny(300), cny(1700))
    assert transaction.receives == 10
    assert (transaction.plan_from, transaction.plan_to, transaction.proration) == (None, None, None)
    assert transaction.refunded_amount == cny(0)
    assert (transaction.cancel_reason, transaction.failure_reason, transaction.completed_at) == (None, None, None)
    assert (transaction.created_at, transaction.updated_at) == (T0, T0)
    assert transaction.events == [events.TransactionCreated(T0, "txn_1", "u1", "purchase_receives", "mock", 1700, "CNY")]


def test_a_plan_upgrade_charges_the_prorated_difference():
    proration = Proration(credit=cny(1965), debit=cny(3997), charge=cny(2032), period_end=T0 + timedelta(days=20))

    transaction = Transaction.plan_upgrade(
        id="txn_2", order_id="P2", user_id="u1", plan_from=PlanId.PRO, plan_to=PlanId.VIP, proration=proration,
        payment_method="alipay", provider="mock", now=T0)

    assert transaction.status is S.PENDING
    assert transaction.type is TransactionType.PLAN_UPGRADE
    assert (transaction.subtotal, transaction.discount, transaction.total) == (cny(3997), cny(1965), cny(2032))
    assert (transaction.plan_from, transaction.plan_to) == (PlanId.PRO, PlanId.VIP)
    assert transaction.proration == proration
    assert transaction.receives is None
    assert transaction.events == [events.TransactionCreated(T0, "txn_2", "u1", "plan_upgrade", "mock", 2032, "CNY")]


def test_a_plan_downgrade_is_free_and_settled_at_once():
    transaction = Transaction.plan_downgrade(
        id="txn_3", order_id="P3", user_id="u1", plan_from=PlanId.VIP, plan_to=PlanId.BASIC, zero=cny(0), now=T0)

    assert transaction.status is S.SUCCEEDED
    assert transaction.type is TransactionType.PLAN_DOWNGRADE
    assert (transaction.subtotal, transaction.discount, transaction.total) == (cny(0), cny(0), cny(0))
    assert (transaction.payment_method, transaction.provider) == (None, None)
    assert transaction.completed_at == T0
    assert transaction.events == [events.TransactionCreated(T0, "txn_3", "u1", "plan_downgrade", None, 0, "CNY")]


def test_transactions_are_the_same_entity_when_their_ids_are():
    assert pending_purchase() == transaction_in(S.SUCCEEDED)
    assert len({pending_purchase(), transaction_in(S.CANCELLED)}) == 1


def test_statuses_and_types_are_the_contract_strings():
    assert {s.value for s in S} == {
        "pending", "succeeded", "failed", "cancelled", "expired", "refunded", "partially_refunded"}
    assert {t.value for t in TransactionType} == {
        "purchase_receives", "plan_upgrade", "plan_downgrade", "plan_renewal"}
    assert PLAN_CHANGE_TYPES == {TransactionType.PLAN_UPGRADE, TransactionType.PLAN_DOWNGRADE}


# ---------------------------------------------------------------------- payment


def test_a_confirmed_payment_settles_a_pending_transaction():
    transaction = pending_purchase()

    transaction.mark_paid("ps_1", LATER)

    assert transaction.status is S.SUCCEEDED
    assert transaction.is_paid and not transaction.is_pending
    assert transaction.paid_session_id == "ps_1"
    assert (transaction.completed_at, transaction.updated_at) == (LATER, LATER)
    assert transaction.events[-1] == events.TransactionSucceeded(LATER, "txn_1", "u1", "purchase_receives", "mock", "ps_1", False)


@pytest.mark.parametrize("status", [S.CANCELLED, S.EXPIRED])
def test_a_late_payment_still_settles_a_cancelled_or_expired_transaction(status):
    transaction = transaction_in(status)

    transaction.mark_paid("ps_1", LATER)

    assert transaction.status is S.SUCCEEDED
    assert transaction.paid_session_id == "ps_1"
    assert transaction.completed_at == LATER
    assert transaction.events == [events.TransactionSucceeded(LATER, "txn_1", "u1", "purchase_receives", "mock", "ps_1", True)]


def test_a_late_payment_after_cancelling_a_pending_transaction_is_marked_late():
    transaction = pending_purchase()
    transaction.cancel("changed my mind", T0 + timedelta(minutes=1))

    transaction.mark_paid("ps_1", LATER)

    assert transaction.status is S.SUCCEEDED
    assert transaction.events[-1].late is True


def test_a_transaction_cannot_be_paid_twice():
    transaction = pending_purchase()
    transaction.mark_paid("ps_1", LATER)
    before = snapshot(transaction)

    with pytest.raises(InvalidTransitionError) as raised:
        transaction.mark_paid("ps_2", LATER + timedelta(minutes=1))

    assert (raised.value.current, raised.value.target) == ("succeeded", "succeeded")
    assert raised.value.code == "invalid_state"
    assert snapshot(transaction) == before
    assert transaction.paid_session_id == "ps_1"


def test_a_failed_attempt_leaves_the_transaction_pending_with_the_reason():
    transaction = pending_purchase()

    transaction.record_failed_attempt("ps_1", "insufficient_funds", LATER)

    assert transaction.status is S.PENDING
    assert transaction.failure_reason == "insufficient_funds"
    assert transaction.updated_at == LATER
    assert transaction.completed_at is None
    assert transaction.events[-1] == events.PaymentAttemptFailed(LATER, "txn_1", "ps_1", "insufficient_funds")


def test_the_payer_can_retry_and_pay_after_a_failed_attempt():
    transaction = pending_purchase()
    transaction.record_failed_attempt("ps_1", "insufficient_funds", LATER)

    transaction.mark_paid("ps_2", LATER + timedelta(minutes=1))

    assert transaction.status is S.SUCCEEDED
    assert transaction.paid_session_id == "ps_2"


# ---------------------------------------------------------------------- other moves


def test_cancelling_records_the_reason():
    transaction = pending_purchase()

    transaction.cancel("changed my mind", LATER)

    assert transaction.status is S.CANCELLED
    assert transaction.cancel_reason == "changed my mind"
    assert transaction.updated_at == LATER
    assert transaction.completed_at is None
    assert transaction.events[-1] == events.TransactionCancelled(LATER, "txn_1", "u1", "purchase_receives", "mock", "changed my mind")


def test_cancelling_without_a_reason_is_allowed():
    transaction = pending_purchase()

    transaction.cancel(None, LATER)

    assert transaction.status is S.CANCELLED
    assert transaction.events[-1] == events.TransactionCancelled(LATER, "txn_1", "u1", "purchase_receives", "mock", None)


def test_expiring_a_pending_transaction():
    transaction = pending_purchase()

    transaction.expire(LATER)

    assert transaction.status is S.EXPIRED
    assert transaction.updated_at == LATER
    assert transaction.events[-1] == events.TransactionExpired(LATER, "txn_1", "u1", "purchase_receives", "mock")


def test_a_charge_without_the_payer_present_can_fail_for_good():
    transaction = pending_purchase()

    transaction.fail("card_declined", LATER)

    assert transaction.status is S.FAILED
    assert transaction.failure_reason == "card_declined"
    assert transaction.completed_at == LATER
    assert transaction.events[-1] == events.TransactionFailed(LATER, "txn_1", "u1", "purchase_receives", "mock", "card_declined")


# ---------------------------------------------------------------------- the transition table


def test_the_transition_table_is_the_contracts():
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED_TRANSITIONS


def test_failed_and_refunded_are_the_terminal_states():
    assert terminal_states(TRANSITIONS) == {S.FAILED, S.REFUNDED}


def test_only_cancelled_and_expired_accept_a_late_payment():
    assert LATE_PAYMENT_STATES == {S.CANCELLED, S.EXPIRED}
    for state in LATE_PAYMENT_STATES:
        assert set(TRANSITIONS[state]) == {S.SUCCEEDED}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_the_table_allows_exactly_the_listed_moves(current, target):
    if target in EXPECTED_TRANSITIONS[current]:
        check_transition(TRANSITIONS, "transaction", current, target)
    else:
        with pytest.raises(InvalidTransitionError) as raised:
            check_transition(TRANSITIONS, "transaction", current, target)
        assert (raised.value.current, raised.value.target) == (current.value, target.value)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, MOVES)))
def test_each_move_is_allowed_exactly_when_the_table_allows_it(current, target):
    transaction = transaction_in(current)
    before = snapshot(transaction)

    if target in EXPECTED_TRANSITIONS[current]:
        MOVES[target](transaction, LATER)
        assert transaction.status is target
        assert transaction.updated_at == LATER
        assert len(transaction.events) == 1
    else:
        with pytest.raises(InvalidTransitionError):
            MOVES[target](transaction, LATER)
        assert snapshot(transaction) == before
