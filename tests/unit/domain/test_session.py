"""The payment session aggregate: its transition table, expiry as seen by readers, late payments."""
import itertools
from datetime import datetime, timedelta, timezone

import pytest

from domain import events
from domain.errors import InvalidTransitionError
from domain.money import CNY, Money
from domain.session import LATE_PAYMENT_STATES, TRANSITIONS, PaymentSession, SessionStatus
from domain.transitions import check_transition, terminal_states

S = SessionStatus
T0 = datetime(2025, 1, 31, 10, tzinfo=timezone.utc)
EXPIRES_AT = T0 + timedelta(hours=1)
BEFORE_EXPIRY = EXPIRES_AT - timedelta(seconds=1)
AFTER_EXPIRY = EXPIRES_AT + timedelta(seconds=1)

# The contract's table, written out independently of the code's.
EXPECTED_TRANSITIONS = {
    S.OPEN: {S.COMPLETED, S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED},
    S.FAILED: {S.COMPLETED, S.REFUNDED},
    S.CANCELLED: {S.COMPLETED, S.REFUNDED},
    S.EXPIRED: {S.COMPLETED, S.REFUNDED},
    S.COMPLETED: set(),
    S.REFUNDED: set(),
}

# The methods that move a session, by the status they move it to (all called after expiry,
# which every one of them accepts).
MOVES = {
    S.COMPLETED: lambda s, now: s.complete(now),
    S.REFUNDED: lambda s, now: s.refund_duplicate(now),
    S.FAILED: lambda s, now: s.fail(now),
    S.CANCELLED: lambda s, now: s.cancel(now),
    S.EXPIRED: lambda s, now: s.expire(now),
}


def open_session() -> PaymentSession:
    return PaymentSession.open(
        id="ps_1", transaction_id="txn_1", user_id="u1", order_id="S20250131E5F6A7B8",
        payment_method="wechat_pay", provider="mock", amount=Money(1700, CNY),
        return_url="http://localhost/done", expires_at=EXPIRES_AT, now=T0)


def session_in(status: SessionStatus) -> PaymentSession:
    """A stored session read back in `status`, with no events of its own yet."""
    return PaymentSession(
        id="ps_1", transaction_id="txn_1", user_id="u1", order_id="S20250131E5F6A7B8", status=status,
        payment_method="wechat_pay", provider="mock", amount=Money(1700, CNY), return_url=None,
        expires_at=EXPIRES_AT, created_at=T0, updated_at=T0)


def snapshot(session: PaymentSession) -> tuple:
    return session.status, session.completed_at, session.updated_at, list(session.events)


# ---------------------------------------------------------------------- opening and reading


def test_a_new_session_is_open_and_records_it():
    session = open_session()

    assert session.status is S.OPEN
    assert session.is_open_at(T0)
    assert not session.is_paid
    assert session.amount == Money(1700, CNY)
    assert (session.created_at, session.updated_at, session.completed_at) == (T0, T0, None)
    assert (session.payment_url, session.qr_code, session.provider_reference) == (None, None, None)
    assert session.events == [events.SessionStatusChanged(T0, "ps_1", "txn_1", "open")]


def test_sessions_are_the_same_entity_when_their_ids_are():
    assert open_session() == session_in(S.COMPLETED)
    assert len({open_session(), session_in(S.FAILED)}) == 1


def test_the_statuses_are_the_contract_strings():
    assert {s.value for s in S} == {"open", "completed", "expired", "cancelled", "failed", "refunded"}


def test_the_providers_instructions_are_attached_to_the_session():
    session = open_session()
    now = T0 + timedelta(seconds=2)

    session.attach_instructions("https://pay.example/1", "weixin://wxpay/bizpayurl?pr=1", "wx123", now)

    assert (session.payment_url, session.qr_code, session.provider_reference) == (
        "https://pay.example/1", "weixin://wxpay/bizpayurl?pr=1", "wx123")
    assert session.updated_at == now
    assert session.status is S.OPEN


def test_readers_see_an_open_session_as_expired_from_its_expiry_on_without_it_being_stored():
    session = open_session()

    assert session.status_at(BEFORE_EXPIRY) is S.OPEN
    assert session.status_at(EXPIRES_AT) is S.EXPIRED
    assert session.status_at(AFTER_EXPIRY) is S.EXPIRED
    assert not session.is_open_at(EXPIRES_AT)
    assert session.status is S.OPEN
    assert session.events == [events.SessionStatusChanged(T0, "ps_1", "txn_1", "open")]


@pytest.mark.parametrize("status", [s for s in S if s is not S.OPEN])
def test_a_session_that_is_no_longer_open_reads_as_stored_after_its_expiry(status):
    assert session_in(status).status_at(AFTER_EXPIRY) is status


# ---------------------------------------------------------------------- moves


def test_a_confirmed_payment_completes_the_session():
    session = open_session()

    session.complete(BEFORE_EXPIRY)

    assert session.status is S.COMPLETED
    assert session.is_paid
    assert (session.completed_at, session.updated_at) == (BEFORE_EXPIRY, BEFORE_EXPIRY)
    assert session.events[-1] == events.SessionStatusChanged(BEFORE_EXPIRY, "ps_1", "txn_1", "completed")


def test_a_payment_confirmed_after_expiry_but_before_the_sweeper_still_completes_the_session():
    session = open_session()

    session.complete(AFTER_EXPIRY)

    assert session.status is S.COMPLETED
    assert session.status_at(AFTER_EXPIRY) is S.COMPLETED


@pytest.mark.parametrize("status", [S.FAILED, S.CANCELLED, S.EXPIRED])
def test_a_late_payment_completes_a_failed_cancelled_or_expired_session(status):
    session = session_in(status)

    session.complete(AFTER_EXPIRY)

    assert session.status is S.COMPLETED
    assert session.completed_at == AFTER_EXPIRY
    assert session.events == [events.SessionStatusChanged(AFTER_EXPIRY, "ps_1", "txn_1", "completed")]


@pytest.mark.parametrize("status", [S.OPEN, S.FAILED, S.CANCELLED, S.EXPIRED])
def test_a_payment_for_an_already_paid_transaction_refunds_the_session(status):
    session = session_in(status)

    session.refund_duplicate(AFTER_EXPIRY)

    assert session.status is S.REFUNDED
    assert session.is_paid  # money did arrive, and is going back
    assert session.completed_at == AFTER_EXPIRY
    assert session.events == [events.SessionStatusChanged(AFTER_EXPIRY, "ps_1", "txn_1", "refunded")]


def test_a_failed_attempt_fails_the_session():
    session = open_session()

    session.fail(BEFORE_EXPIRY)

    assert session.status is S.FAILED
    assert session.completed_at is None
    assert not session.is_paid
    assert session.events[-1] == events.SessionStatusChanged(BEFORE_EXPIRY, "ps_1", "txn_1", "failed")


def test_cancelling_the_session():
    session = open_session()

    session.cancel(BEFORE_EXPIRY)

    assert session.status is S.CANCELLED
    assert session.updated_at == BEFORE_EXPIRY
    assert session.events[-1] == events.SessionStatusChanged(BEFORE_EXPIRY, "ps_1", "txn_1", "cancelled")


@pytest.mark.parametrize("now", [EXPIRES_AT, AFTER_EXPIRY])
def test_a_session_can_be_expired_from_its_expiry_on(now):
    session = open_session()

    session.expire(now)

    assert session.status is S.EXPIRED
    assert session.updated_at == now
    assert session.events[-1] == events.SessionStatusChanged(now, "ps_1", "txn_1", "expired")


def test_a_session_cannot_be_expired_before_its_expiry_and_nothing_changes():
    session = open_session()
    before = snapshot(session)

    with pytest.raises(ValueError):
        session.expire(BEFORE_EXPIRY)

    assert snapshot(session) == before


# ---------------------------------------------------------------------- the transition table


def test_the_transition_table_is_the_contracts():
    assert {state: set(targets) for state, targets in TRANSITIONS.items()} == EXPECTED_TRANSITIONS


def test_completed_and_refunded_are_the_terminal_states():
    assert terminal_states(TRANSITIONS) == {S.COMPLETED, S.REFUNDED}


def test_failed_cancelled_and_expired_accept_only_a_late_payment():
    assert LATE_PAYMENT_STATES == {S.FAILED, S.CANCELLED, S.EXPIRED}
    for state in LATE_PAYMENT_STATES:
        assert set(TRANSITIONS[state]) == {S.COMPLETED, S.REFUNDED}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_the_table_allows_exactly_the_listed_moves(current, target):
    if target in EXPECTED_TRANSITIONS[current]:
        check_transition(TRANSITIONS, "payment session", current, target)
    else:
        with pytest.raises(InvalidTransitionError) as raised:
            check_transition(TRANSITIONS, "payment session", current, target)
        assert (raised.value.current, raised.value.target) == (current.value, target.value)


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, MOVES)))
def test_each_move_is_allowed_exactly_when_the_table_allows_it(current, target):
    session = session_in(current)
    before = snapshot(session)

    if target in EXPECTED_TRANSITIONS[current]:
        MOVES[target](session, AFTER_EXPIRY)
        assert session.status is target
        assert session.updated_at == AFTER_EXPIRY
        assert session.events == [events.SessionStatusChanged(AFTER_EXPIRY, "ps_1", "txn_1", target.value)]
    else:
        with pytest.raises(InvalidTransitionError):
            MOVES[target](session, AFTER_EXPIRY)
        assert snapshot(session) == before

