"""The domain of saved methods (docs/saved-methods.md): a saved method's deletion; a session that
saves its method awaits the step once paid, and records it once; an off-session attempt; a declined
off-session charge fails the transaction (one-click) or leaves it pending (renewal)."""
from datetime import datetime, timedelta, timezone

from domain.catalog import DEFAULT_CATALOG
from domain.saved_method import SavedMethod
from domain.session import SessionStatus
from domain.transaction import Transaction, TransactionStatus

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def a_purchase() -> Transaction:
    return Transaction.purchase_receives(id="txn_1", order_id="P1234567", user_id="alice",
                                         quote=DEFAULT_CATALOG.receives.quote(10), payment_method="credit_card",
                                         provider="mock", now=T0)


def open_one(t: Transaction, *, save: bool = False, saved_method_id: str | None = None, n: int = 1):
    return t.open_session(id=f"ps_{n}", order_id=f"S123456{n}", payment_method="credit_card", provider="mock",
                          return_url=None, ttl=timedelta(hours=1), now=T0, save_method=save,
                          saved_method_id=saved_method_id).session


def test_a_deleted_method_is_no_longer_the_default_and_deleting_again_changes_nothing():
    method = SavedMethod.save(id="spm_1", user_id="alice", provider="mock", payment_method="credit_card",
                              token="mock_pm_1", label="Mock card •••• 4242", brand="visa", last4="4242",
                              exp_month=12, exp_year=2030, is_default=True, now=T0)

    method.delete(T0 + timedelta(minutes=1))
    method.delete(T0 + timedelta(minutes=2))

    assert (method.deleted, method.is_default, method.deleted_at) == (True, False, T0 + timedelta(minutes=1))


def test_a_paid_session_that_saves_awaits_the_step_until_recorded_once():
    t = a_purchase()
    session = open_one(t, save=True)
    assert not session.awaits_saved_method  # not paid yet

    t.confirm_payment(session.id, T0 + timedelta(minutes=1))

    assert session.awaits_saved_method
    assert t.record_method_saved(session.id, T0 + timedelta(minutes=2))
    assert not t.record_method_saved(session.id, T0 + timedelta(minutes=3))
    assert (session.awaits_saved_method, session.method_saved_at) == (False, T0 + timedelta(minutes=2))


def test_a_session_that_does_not_save_never_awaits_the_step():
    t = a_purchase()
    session = open_one(t)
    t.confirm_payment(session.id, T0)

    assert not session.awaits_saved_method and not t.record_method_saved(session.id, T0)


def test_a_declined_one_click_charge_fails_its_transaction_with_the_reason():
    t = a_purchase()
    attempt = open_one(t, saved_method_id="spm_1")
    assert attempt.off_session

    assert t.decline_off_session(attempt.id, "card_declined", T0, fail_transaction=True)

    assert (t.status, t.failure_reason, attempt.status) == (TransactionStatus.FAILED, "card_declined",
                                                            SessionStatus.FAILED)
    assert not t.decline_off_session(attempt.id, "card_declined", T0, fail_transaction=True)


def test_a_declined_renewal_charge_leaves_its_transaction_pending_to_be_paid_later():
    t = a_purchase()
    attempt = open_one(t, saved_method_id="spm_1")

    assert t.decline_off_session(attempt.id, "card_declined", T0, fail_transaction=False)

    assert (t.status, t.failure_reason, attempt.status) == (TransactionStatus.PENDING, "card_declined",
                                                            SessionStatus.FAILED)
