"""Refunds with admin approval, in the domain: the refund's life, what can be refunded and exactly
how much (`domain.refund_terms`), the receives held on request and given back on rejection or
cancellation, and plans ended by their refund. Pure: no fixtures, no clock."""
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.catalog import DEFAULT_CATALOG, PlanId
from domain.errors import (
    DomainValidationError,
    InsufficientReceivesError,
    InvalidTransitionError,
)
from domain.ledger import Balance, LedgerKind
from domain.membership import Membership
from domain.money import CNY, Money
from domain.refund import (
    FOLLOW_UP_LIMIT,
    GAVE_UP,
    Refund,
    RefundKind,
    RefundStatus,
    SelfApprovalError,
)
from domain.refund_terms import (
    NotRefundableError,
    RefundInProgressError,
    admin_refund_terms,
    user_refund_terms,
)
from domain.transaction import Transaction, TransactionStatus

CATALOG = DEFAULT_CATALOG
BASIC, PRO, VIP = (CATALOG.plan(p) for p in (PlanId.BASIC, PlanId.PRO, PlanId.VIP))
T0 = datetime(2026, 3, 1, 10, tzinfo=UTC)
WINDOW = timedelta(days=30)
R = RefundStatus


def cny(amount: int) -> Money:
    return Money(amount, CNY)


def paid_purchase(receives: int = 10, now: datetime = T0) -> Transaction:
    transaction = Transaction.purchase_receives(id="txn_1", order_id="P1", user_id="u1",
                                                quote=CATALOG.receives.quote(receives), payment_method="mock",
                                                provider="mock", now=now)
    opened = transaction.open_session(id="ps_1", order_id="S1", payment_method="mock", provider="mock",
                                      return_url=None, ttl=timedelta(hours=1), now=now)
    transaction.confirm_payment(opened.session.id, now)
    return transaction


def member_with(receives: int, now: datetime = T0) -> Membership:
    membership = Membership.start("u1", BASIC, now)
    if receives:
        membership.credit_purchase(receives, "txn_1", now)
    return membership


def paid_upgrade(now: datetime = T0) -> tuple[Transaction, Membership]:
    """A basic member pays for pro at `now`: a new 31-day period starts (Mar 1 → Apr 1)."""
    membership = Membership.start("u1", BASIC, now - timedelta(days=3))
    proration = membership.quote_upgrade(PRO, CATALOG, now)
    transaction = Transaction.plan_upgrade(id="txn_p", order_id="P2", user_id="u1", plan_from=PlanId.BASIC,
                                           plan_to=PlanId.PRO, proration=proration, payment_method="mock",
                                           provider="mock", now=now)
    opened = transaction.open_session(id="ps_p", order_id="S2", payment_method="mock", provider="mock",
                                      return_url=None, ttl=timedelta(hours=1), now=now)
    transaction.confirm_payment(opened.session.id, now)
    membership.apply_upgrade(PRO, CATALOG, now)
    return transaction, membership


def requested(transaction: Transaction, amount: int, receives: int | None, *, id: str = "rf_1",
              by: str = "u1", kind: RefundKind = RefundKind.REQUESTED, ends_plan: bool = False,
              now: datetime = T0) -> Refund:
    return Refund.request(id=id, refund_order_id="R" + id[3:].upper().rjust(6, "0"),
                          session=transaction.session(transaction.paid_session_id), amount=cny(amount),
                          receives=receives, ends_plan=ends_plan, reason="bought by mistake", requested_by=by,
                          kind=kind, now=now)


# ---------------------------------------------------------------------- the refund's life
def test_a_requested_refund_waits_for_review_with_what_it_asked_for():
    refund = requested(paid_purchase(), 900, 5)

    assert (refund.status, refund.kind, refund.amount, refund.receives) == (R.REQUESTED, RefundKind.REQUESTED,
                                                                              cny(900), 5)
    assert (refund.session_id, refund.payment_order_id, refund.provider) == ("ps_1", "S1", "mock")
    assert (refund.requested_by, refund.reviewed_by, refund.next_attempt_at, refund.completed_at) == (
        "u1", None, None, None)
    assert refund.is_open and refund.holds_receives == 5


def test_approval_sends_it_to_the_provider_and_records_the_review():
    refund = requested(paid_purchase(), 900, 5)
    later = T0 + timedelta(hours=2)

    refund.approve("admin1", "ok", later)

    assert refund.status is R.PROCESSING
    assert (refund.reviewed_by, refund.review_note, refund.reviewed_at) == ("admin1", "ok", later)
    assert (refund.submitted_at, refund.next_attempt_at) == (later, later + timedelta(minutes=1))
    assert refund.holds_receives == 5  # never given back after approval


def test_nobody_approves_a_refund_they_asked_for():
    refund = requested(paid_purchase(), 900, None, by="admin1", kind=RefundKind.ADMIN)

    with pytest.raises(SelfApprovalError) as raised:
        refund.approve("admin1", None, T0)

    assert raised.value.code == "forbidden" and refund.status is R.REQUESTED
    refund.approve("admin2", None, T0)
    assert refund.status is R.PROCESSING


def test_a_rejection_needs_a_note_and_gives_the_receives_back():
    refund = requested(paid_purchase(), 900, 5)

    with pytest.raises(DomainValidationError):
        refund.reject("admin1", "  ", T0)
    refund.reject("admin1", "used already", T0)

    assert (refund.status, refund.review_note, refund.completed_at) == (R.REJECTED, "used already", T0)
    assert refund.holds_receives == 0 and not refund.counts_against_transaction


def test_only_a_requested_refund_is_approved_rejected_or_cancelled_and_only_a_failed_one_retried():
    refund = requested(paid_purchase(), 900, 5)
    with pytest.raises(InvalidTransitionError, match="Only a failed refund can be retried"):
        refund.retry(T0)
    refund.cancel(T0)
    for move in (lambda: refund.approve("a", None, T0), lambda: refund.reject("a", "no", T0),
                 lambda: refund.cancel(T0)):
        with pytest.raises(InvalidTransitionError, match="this one is cancelled"):
            move()
    assert refund.status is R.CANCELLED


def test_a_failed_refund_is_retried_with_the_same_refund_number():
    refund = requested(paid_purchase(), 900, 5)
    refund.approve("admin1", None, T0)
    refund.fail(T0 + timedelta(minutes=5), "insufficient merchant balance")
    assert (refund.status, refund.failure_reason) == (R.FAILED, "insufficient merchant balance")
    order_id = refund.refund_order_id

    refund.retry(T0 + timedelta(hours=1))

    assert (refund.status, refund.refund_order_id, refund.failure_reason) == (R.PROCESSING, order_id, None)
    assert refund.submitted_at == T0 + timedelta(hours=1) and refund.completed_at is None
    with pytest.raises(InvalidTransitionError):
        refund.approve("admin2", None, T0)


def test_a_retried_refund_is_followed_for_the_whole_limit_again_then_failed_with_the_reason():
    refund = requested(paid_purchase(), 900, 5)
    refund.approve("admin1", None, T0)
    refund.fail(T0 + timedelta(hours=80), "closed")
    retried_at = T0 + timedelta(hours=100)
    refund.retry(retried_at)

    assert refund.take_follow_up(retried_at + timedelta(minutes=1))  # not given up at once
    refund.next_attempt_at = retried_at + FOLLOW_UP_LIMIT
    assert refund.take_follow_up(retried_at + FOLLOW_UP_LIMIT, "PROCESSING at the bank") is False
    assert (refund.status, refund.failure_reason) == (R.FAILED, "PROCESSING at the bank")


def test_a_refund_given_up_without_a_provider_reason_says_so():
    refund = requested(paid_purchase(), 900, 5)
    refund.approve("admin1", None, T0)
    refund.next_attempt_at = T0 + FOLLOW_UP_LIMIT
    assert refund.take_follow_up(T0 + FOLLOW_UP_LIMIT) is False
    assert refund.failure_reason == GAVE_UP


def test_an_admin_refund_under_the_threshold_starts_processing_without_review():
    refund = requested(paid_purchase(), 500, None, by="admin1", kind=RefundKind.ADMIN)
    refund.start_processing(T0)
    assert (refund.status, refund.reviewed_by, refund.submitted_at) == (R.PROCESSING, None, T0)


def test_a_refund_is_of_a_positive_amount_and_never_automatic_by_request():
    with pytest.raises(DomainValidationError):
        requested(paid_purchase(), 0, None)
    with pytest.raises(ValueError):
        requested(paid_purchase(), 100, None, kind=RefundKind.AUTOMATIC)


# ---------------------------------------------------------------------- what can be refunded
def test_receives_are_priced_by_count_and_default_to_all_that_are_left():
    purchase = paid_purchase(10)  # 1700 fen

    assert user_refund_terms(purchase, [], member_with(10), T0, window=WINDOW, receives=3).amount == cny(510)
    everything = user_refund_terms(purchase, [], member_with(10), T0, window=WINDOW)
    assert (everything.amount, everything.receives, everything.ends_plan) == (cny(1700), 10, False)
    assert user_refund_terms(purchase, [], member_with(4), T0, window=WINDOW).receives == 4  # 6 were used


def test_the_last_refund_of_a_purchase_takes_exactly_what_is_left():
    purchase = paid_purchase(7)  # 1260 fen
    membership = member_with(7)
    refunds: list[Refund] = []
    for n, count in enumerate((3, 3, 1)):
        terms = user_refund_terms(purchase, refunds, membership, T0, window=WINDOW, receives=count)
        membership.hold_for_refund(count, purchase.id, T0)
        refunds.append(requested(purchase, terms.amount.amount, count, id=f"rf_{n}"))
        refunds[-1].approve("admin", None, T0)
        refunds[-1].succeed("re", T0)
        purchase.record_refund(terms.amount, T0)
    assert [r.amount.amount for r in refunds] == [540, 540, 180]
    assert (purchase.status, purchase.refunded_amount) == (TransactionStatus.REFUNDED, cny(1260))


def test_an_admin_refund_of_money_alone_leaves_less_for_the_last_receives():
    purchase = paid_purchase(10)  # 1700 fen
    goodwill = requested(purchase, 100, None, by="admin1", kind=RefundKind.ADMIN)
    goodwill.start_processing(T0)
    goodwill.succeed("re", T0)
    terms = user_refund_terms(purchase, [goodwill], member_with(10), T0, window=WINDOW)
    assert (terms.receives, terms.amount) == (10, cny(1600))


@pytest.mark.parametrize(("status", "message"), [
    (TransactionStatus.REFUNDED, "this one is refunded"),
])
def test_only_succeeded_or_partially_refunded_transactions_are_refundable(status, message):
    purchase = paid_purchase(10)
    purchase.record_refund(purchase.total, T0)
    with pytest.raises(NotRefundableError, match=message):
        user_refund_terms(purchase, [], member_with(10), T0, window=WINDOW)


def test_a_pending_transaction_and_a_downgrade_are_not_refundable():
    pending = Transaction.purchase_receives(id="txn_1", order_id="P1", user_id="u1",
                                            quote=CATALOG.receives.quote(5), payment_method="mock",
                                            provider="mock", now=T0)
    with pytest.raises(NotRefundableError, match="this one is pending"):
        user_refund_terms(pending, [], member_with(5), T0, window=WINDOW)
    downgrade = Transaction.plan_downgrade(id="txn_d", order_id="P3", user_id="u1", plan_from=PlanId.PRO,
                                           plan_to=PlanId.BASIC, zero=cny(0), now=T0)
    with pytest.raises(NotRefundableError, match="plan_downgrade transaction cannot be refunded"):
        user_refund_terms(downgrade, [], member_with(0), T0, window=WINDOW)


def test_the_window_binds_users_and_not_admins():
    purchase = paid_purchase(10)
    assert user_refund_terms(purchase, [], member_with(10), T0 + WINDOW, window=WINDOW).receives == 10
    with pytest.raises(NotRefundableError, match="refund window of 30 days"):
        user_refund_terms(purchase, [], member_with(10), T0 + WINDOW + timedelta(seconds=1), window=WINDOW)
    assert admin_refund_terms(purchase, [], member_with(10)).amount == cny(1700)


def test_one_open_refund_per_transaction():
    purchase = paid_purchase(10)
    open_refund = requested(purchase, 510, 3)
    with pytest.raises(RefundInProgressError) as raised:
        user_refund_terms(purchase, [open_refund], member_with(7), T0, window=WINDOW)
    assert raised.value.code == "refund_in_progress"
    with pytest.raises(RefundInProgressError):
        admin_refund_terms(purchase, [open_refund], member_with(7))
    open_refund.cancel(T0)
    assert user_refund_terms(purchase, [open_refund], member_with(10), T0, window=WINDOW).receives == 10


def test_used_receives_are_not_refundable():
    purchase = paid_purchase(10)
    with pytest.raises(NotRefundableError, match="have been used"):
        user_refund_terms(purchase, [], member_with(0), T0, window=WINDOW)
    with pytest.raises(NotRefundableError, match="Receives already used are not refundable: only 2"):
        user_refund_terms(purchase, [], member_with(2), T0, window=WINDOW, receives=3)
    with pytest.raises(NotRefundableError, match="Only 10 receives"):
        user_refund_terms(purchase, [], member_with(20), T0, window=WINDOW, receives=11)


def test_a_failed_refund_still_counts_so_a_retry_never_refunds_more_than_was_paid():
    purchase = paid_purchase(10)
    failed = requested(purchase, 1700, 10)
    failed.approve("admin", None, T0)
    failed.fail(T0)
    with pytest.raises(NotRefundableError, match="refunded in full"):
        user_refund_terms(purchase, [failed], member_with(10), T0, window=WINDOW)


def test_a_plan_is_refunded_by_its_unused_share_and_ends():
    upgrade, membership = paid_upgrade(T0)  # 2900 fen for Mar 1 10:00 → Apr 1 10:00 (31 days)
    now = T0 + timedelta(days=10)

    terms = user_refund_terms(upgrade, [], membership, now, window=WINDOW)

    assert (terms.amount, terms.receives, terms.ends_plan) == (cny(1965), None, True)  # 2900 × 21/31 = 1964.5
    with pytest.raises(DomainValidationError):
        user_refund_terms(upgrade, [], membership, now, window=WINDOW, receives=1)


def test_only_the_plan_of_the_current_period_is_refundable():
    upgrade, membership = paid_upgrade(T0)
    membership.end_paid_plan(CATALOG, T0 + timedelta(days=1))
    with pytest.raises(NotRefundableError, match="current plan and period"):
        user_refund_terms(upgrade, [], membership, T0 + timedelta(days=1), window=WINDOW)


def test_admin_refunds_take_any_amount_left_and_receives_only_when_asked():
    purchase = paid_purchase(10)
    terms = admin_refund_terms(purchase, [], member_with(10), amount=300)
    assert (terms.amount, terms.receives, terms.ends_plan) == (cny(300), None, False)
    assert admin_refund_terms(purchase, [], member_with(10), receives=2).receives == 2
    with pytest.raises(NotRefundableError, match="At most 1700"):
        admin_refund_terms(purchase, [], member_with(10), amount=1701)
    upgrade, membership = paid_upgrade(T0)
    assert admin_refund_terms(upgrade, [], membership).ends_plan is False


# ---------------------------------------------------------------------- the membership's side
def test_held_receives_leave_the_balance_through_the_ledger_and_come_back_on_release():
    membership = member_with(10)
    membership.hold_for_refund(4, "txn_1", T0)
    assert membership.purchased_remaining == 6
    with pytest.raises(InsufficientReceivesError):
        membership.hold_for_refund(7, "txn_1", T0)
    membership.release_refund_hold(4, "txn_1", T0)
    assert membership.purchased_remaining == 10
    kinds = [(e.kind, e.delta) for e in membership.new_entries[-2:]]
    assert kinds == [(LedgerKind.REFUND, -4), (LedgerKind.REFUND_RELEASE, 4)]


def test_a_refunded_plan_returns_to_basic_at_once_in_a_new_period():
    upgrade, membership = paid_upgrade(T0)
    membership.schedule_change(BASIC, T0 + timedelta(days=1))
    now = T0 + timedelta(days=5)

    membership.end_paid_plan(CATALOG, now)

    assert (membership.plan, membership.current_period_start, membership.scheduled_change) == (
        PlanId.BASIC, now, None)
    assert (membership.allowance_remaining, membership.monthly_allowance) == (3, 3)


# ---------------------------------------------------------------------- properties
@settings(max_examples=200, deadline=None)
@given(bought=st.integers(1, 100), chunks=st.lists(st.integers(1, 100), max_size=12), used=st.integers(0, 100))
def test_partial_refunds_of_a_purchase_sum_to_at_most_its_total_and_exactly_when_all_are_refunded(
        bought, chunks, used):
    purchase = paid_purchase(bought)
    membership = member_with(bought)
    if used:
        membership.consume(min(used, membership.balance.total), "use", T0)
    refunds: list[Refund] = []
    for n, chunk in enumerate(chunks):
        try:
            terms = user_refund_terms(purchase, refunds, membership, T0, window=WINDOW, receives=chunk)
        except NotRefundableError:
            continue
        refund = requested(purchase, terms.amount.amount, terms.receives, id=f"rf_{n}")
        membership.hold_for_refund(terms.receives, purchase.id, T0)
        refund.approve("admin", None, T0)
        refund.succeed("re", T0)
        purchase.record_refund(refund.amount, T0)
        refunds.append(refund)
        assert membership.purchased_remaining >= 0
    refunded_receives = sum(r.receives for r in refunds)
    total = sum(r.amount.amount for r in refunds)
    assert total <= purchase.total.amount and purchase.refunded_amount == cny(total)
    assert (total == purchase.total.amount) == (refunded_receives == bought)
    assert purchase.status is (TransactionStatus.SUCCEEDED if not refunds else
                               TransactionStatus.REFUNDED if refunded_receives == bought else
                               TransactionStatus.PARTIALLY_REFUNDED)


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["request", "cancel", "reject", "approve", "consume"]),
                                st.integers(1, 12)), max_size=25))
def test_holding_and_giving_back_never_takes_the_balance_below_zero_and_it_always_equals_the_ledger(steps):
    purchase = paid_purchase(12)
    membership = member_with(12)
    entries = list(membership.new_entries)
    membership.new_entries.clear()
    refunds: list[Refund] = []
    for n, (action, count) in enumerate(steps):
        now = T0 + timedelta(minutes=n)
        open_refund = next((r for r in refunds if r.is_open and r.status is R.REQUESTED), None)
        if action == "request":
            try:
                terms = user_refund_terms(purchase, refunds, membership, now, window=WINDOW, receives=count)
            except (NotRefundableError, RefundInProgressError):
                continue
            refunds.append(requested(purchase, terms.amount.amount, terms.receives, id=f"rf_{n}", now=now))
            membership.hold_for_refund(terms.receives, purchase.id, now)
        elif action in ("cancel", "reject") and open_refund is not None:
            open_refund.cancel(now) if action == "cancel" else open_refund.reject("admin", "no", now)
            membership.release_refund_hold(open_refund.receives, purchase.id, now)
        elif action == "approve" and open_refund is not None:
            open_refund.approve("admin", None, now)
            open_refund.succeed("re", now)
        elif action == "consume" and membership.balance.total >= count:
            membership.consume(count, f"c{n}", now)
        entries.extend(membership.new_entries)
        membership.new_entries.clear()
        assert membership.allowance_remaining >= 0 and membership.purchased_remaining >= 0
        assert Balance.of(entries) == membership.balance
    held = sum(r.holds_receives for r in refunds)
    assert membership.purchased_remaining + held <= 12
