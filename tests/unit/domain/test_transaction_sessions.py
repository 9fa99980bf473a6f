"""The transaction as the aggregate root of its payment sessions: opening and replacing attempts,
paying at most once, late payments, attempts that end unpaid, lapsing, and the reconciler's
schedule. Pure domain: no fixtures."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import events
from domain.catalog import DEFAULT_CATALOG
from domain.errors import InvalidTransitionError
from domain.session import SessionStatus
from domain.transaction import MAX_SESSIONS, Confirmation, Transaction, TransactionStatus

T0 = datetime(2025, 1, 31, 10, tzinfo=timezone.utc)
TTL = timedelta(minutes=30)


def pending(receives: int = 10) -> Transaction:
    return Transaction.purchase_receives(id="txn_1", order_id="P1", user_id="u1",
                                         quote=DEFAULT_CATALOG.receives.quote(receives),
                                         payment_method="alipay", provider="mock", now=T0)


def opened(transaction: Transaction, n: int, now: datetime = T0, method: str = "alipay"):
    return transaction.open_session(id=f"ps_{n}", order_id=f"S{n}", payment_method=method, provider="mock",
                                    return_url=None, ttl=TTL, now=now)


def test_a_session_pays_the_transactions_total_for_its_user_until_the_ttl():
    transaction = pending()

    session = opened(transaction, 1).session

    assert (session.transaction_id, session.user_id, session.amount) == ("txn_1", "u1", transaction.total)
    assert (session.status, session.expires_at) == (SessionStatus.OPEN, T0 + TTL)
    assert transaction.sessions == [session]


def test_a_new_session_replaces_the_open_one_and_takes_over_the_method():
    transaction = pending()
    first = opened(transaction, 1).session

    second = opened(transaction, 2, T0 + timedelta(minutes=3), method="wechat_pay")

    assert second.replaced == (first,)
    assert [s.status for s in transaction.sessions] == [SessionStatus.CANCELLED, SessionStatus.OPEN]
    assert (transaction.payment_method, transaction.updated_at) == ("wechat_pay", T0 + timedelta(minutes=3))


def test_an_attempt_still_stored_open_past_its_expiry_is_ended_expired_not_cancelled():
    transaction = pending()
    opened(transaction, 1)
    second = opened(transaction, 2, T0 + timedelta(minutes=1)).session
    after_second_lapsed = second.expires_at + timedelta(minutes=1)

    confirmed = transaction.confirm_payment("ps_1", after_second_lapsed)  # a late payment of the first

    assert confirmed.outcome is Confirmation.PAID
    assert confirmed.ended == (second,)
    assert second.status is SessionStatus.EXPIRED


@pytest.mark.parametrize("status", ["cancelled", "succeeded"])
def test_only_a_pending_transaction_gets_a_new_session(status):
    transaction = pending()
    opened(transaction, 1)
    if status == "cancelled":
        transaction.cancel(None, T0)
    else:
        transaction.confirm_payment("ps_1", T0)

    with pytest.raises(InvalidTransitionError):
        opened(transaction, 2, T0 + timedelta(minutes=1))
    assert len(transaction.sessions) == 1


def test_a_transaction_whose_attempts_lapsed_reads_expired_and_gets_no_new_session():
    transaction = pending()
    opened(transaction, 1)
    after = T0 + TTL

    assert transaction.status_at(after) is TransactionStatus.EXPIRED
    assert transaction.status is TransactionStatus.PENDING
    with pytest.raises(InvalidTransitionError, match="expired"):
        opened(transaction, 2, after)


def test_a_transaction_gets_at_most_twenty_sessions_then_a_clear_invalid_state():
    transaction = pending()
    for n in range(MAX_SESSIONS):
        opened(transaction, n, T0 + timedelta(seconds=n))

    with pytest.raises(InvalidTransitionError, match="at most 20 payment sessions") as refused:
        opened(transaction, MAX_SESSIONS, T0 + timedelta(minutes=1))

    assert MAX_SESSIONS == 20 and refused.value.code == "invalid_state"
    assert len(transaction.sessions) == 20
    assert transaction.sessions[-1].status is SessionStatus.OPEN  # the last attempt is still payable
    transaction.confirm_payment(transaction.sessions[-1].id, T0 + timedelta(minutes=2))
    assert transaction.status is TransactionStatus.SUCCEEDED


def test_a_confirmed_payment_pays_the_transaction_and_ends_the_other_attempts():
    transaction = pending()
    opened(transaction, 1)
    newer = opened(transaction, 2, T0 + timedelta(minutes=1)).session

    confirmed = transaction.confirm_payment("ps_1", T0 + timedelta(minutes=2))  # the payer paid the first

    assert confirmed.outcome is Confirmation.PAID
    assert confirmed.ended == (newer,)
    assert (transaction.status, transaction.paid_session_id) == (TransactionStatus.SUCCEEDED, "ps_1")
    assert [s.status for s in transaction.sessions] == [SessionStatus.COMPLETED, SessionStatus.CANCELLED]


@pytest.mark.parametrize("end", ["cancel", "expire"])
def test_a_late_payment_still_pays_a_cancelled_or_expired_transaction(end):
    transaction = pending()
    opened(transaction, 1)
    if end == "cancel":
        transaction.cancel("changed my mind", T0 + timedelta(minutes=1))
    else:
        assert transaction.expire_if_lapsed(T0 + TTL)

    confirmed = transaction.confirm_payment("ps_1", T0 + TTL + timedelta(minutes=1))

    assert confirmed.outcome is Confirmation.PAID
    assert transaction.status is TransactionStatus.SUCCEEDED
    succeeded = [e for e in transaction.events if isinstance(e, events.TransactionSucceeded)]
    assert [e.late for e in succeeded] == [True]


def test_the_same_confirmation_again_changes_nothing():
    transaction = pending()
    opened(transaction, 1)
    transaction.confirm_payment("ps_1", T0)
    transaction.collect_events()

    again = transaction.confirm_payment("ps_1", T0 + timedelta(minutes=1))

    assert again.outcome is Confirmation.ALREADY_APPLIED
    assert transaction.collect_events() == []


def test_a_second_paid_session_is_marked_refunded_and_the_transaction_stays_paid_once():
    transaction = pending()
    opened(transaction, 1)
    opened(transaction, 2, T0 + timedelta(minutes=1))
    transaction.confirm_payment("ps_2", T0 + timedelta(minutes=2))

    twice = transaction.confirm_payment("ps_1", T0 + timedelta(minutes=3))

    assert twice.outcome is Confirmation.PAID_TWICE
    assert twice.session.status is SessionStatus.REFUNDED
    assert (transaction.status, transaction.paid_session_id) == (TransactionStatus.SUCCEEDED, "ps_2")


def test_a_payment_for_a_transaction_that_failed_for_good_is_refunded():
    transaction = pending()
    opened(transaction, 1)
    transaction.fail("renewal_declined", T0)

    assert transaction.confirm_payment("ps_1", T0).outcome is Confirmation.PAID_TWICE
    assert transaction.status is TransactionStatus.FAILED


def test_a_failed_attempt_leaves_the_transaction_pending_with_the_reason():
    transaction = pending()
    opened(transaction, 1)

    assert transaction.end_attempt("ps_1", closed=False, reason="card_declined", now=T0)

    assert transaction.session("ps_1").status is SessionStatus.FAILED
    assert (transaction.status, transaction.failure_reason) == (TransactionStatus.PENDING, "card_declined")
    assert not transaction.end_attempt("ps_1", closed=False, reason="again", now=T0)
    assert transaction.failure_reason == "card_declined"


def test_an_order_closed_after_its_expiry_expires_the_session_without_a_failure():
    transaction = pending()
    opened(transaction, 1)

    assert transaction.end_attempt("ps_1", closed=True, reason=None, now=T0 + TTL)

    assert transaction.session("ps_1").status is SessionStatus.EXPIRED
    assert transaction.failure_reason is None


def test_an_order_that_could_not_be_opened_fails_its_session_once():
    transaction = pending()
    opened(transaction, 1)

    assert transaction.fail_attempt("ps_1", "provider_unavailable", T0)
    assert not transaction.fail_attempt("ps_1", "provider_unavailable", T0)
    assert transaction.failure_reason == "provider_unavailable"


def test_lapsed_sessions_and_then_the_transaction_expire():
    transaction = pending()
    opened(transaction, 1)

    assert not transaction.expire_if_lapsed(T0 + TTL - timedelta(seconds=1))
    assert transaction.expire_if_lapsed(T0 + TTL)

    assert transaction.status is TransactionStatus.EXPIRED
    assert transaction.session("ps_1").status is SessionStatus.EXPIRED
    assert not transaction.expire_if_lapsed(T0 + TTL)


def test_due_checks_are_taken_with_the_next_one_scheduled():
    transaction = pending()
    session = opened(transaction, 1).session
    first_check = session.next_check_at

    assert transaction.take_due_checks(first_check - timedelta(seconds=1)) == ()
    assert transaction.take_due_checks(first_check) == (session,)
    assert session.next_check_at > first_check


def test_events_of_the_transaction_and_its_sessions_are_collected_once():
    transaction = pending()
    opened(transaction, 1)

    collected = transaction.collect_events()

    assert [type(e) for e in collected] == [events.TransactionCreated, events.SessionStatusChanged]
    assert transaction.collect_events() == []


@given(st.lists(st.tuples(st.sampled_from(["open", "confirm", "fail", "cancel"]), st.integers(0, 4)),
                max_size=25))
def test_whatever_happens_a_transaction_is_paid_at_most_once_and_no_confirmed_payment_is_lost(steps):
    transaction = pending()
    opened(transaction, 0)
    now = T0
    confirmed: set[str] = set()
    for action, index in steps:
        now += timedelta(seconds=30)
        session_id = transaction.sessions[min(index, len(transaction.sessions) - 1)].id
        if (action == "open" and transaction.status_at(now) is TransactionStatus.PENDING
                and len(transaction.sessions) < MAX_SESSIONS):
            opened(transaction, len(transaction.sessions), now)
        elif action == "confirm":
            transaction.confirm_payment(session_id, now)
            confirmed.add(session_id)
        elif action == "fail":
            transaction.end_attempt(session_id, closed=False, reason="declined", now=now)
        elif action == "cancel" and transaction.status is TransactionStatus.PENDING:
            transaction.cancel(None, now)

    completed = [s.id for s in transaction.sessions if s.status is SessionStatus.COMPLETED]
    assert len(completed) <= 1
    assert completed == ([transaction.paid_session_id] if transaction.paid_session_id else [])
    # Every confirmed payment either paid the transaction or is being sent back.
    for session_id in confirmed:
        assert transaction.session(session_id).status in (SessionStatus.COMPLETED, SessionStatus.REFUNDED)
    assert (transaction.status is TransactionStatus.SUCCEEDED) == bool(confirmed)
