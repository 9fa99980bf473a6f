"""What a status query finds becomes the event a notification would have carried, the payer's
provider id (port 1.3) and the time paid included, so a payment credited by the reconciler is
no poorer in facts than one credited by its notification."""
from datetime import datetime, timezone

from domain.money import CNY, Money
from ports.payment_provider import PaymentState, PaymentStatus, ProviderEventKind
from ports.use_cases.notifications.reconcile_payments import _event_from


def test_a_paid_status_keeps_the_payer_the_amount_and_when_it_was_paid():
    paid_at = datetime(2026, 12, 5, 8, 0, tzinfo=timezone.utc)
    status = PaymentStatus("C20261205abc", PaymentState.SUCCEEDED, Money(2900, CNY), "4200001",
                           paid_at=paid_at, payer_id="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")

    event = _event_from(status)

    assert (event.kind, event.order_id, event.amount, event.provider_reference) == (
        ProviderEventKind.PAYMENT_SUCCEEDED, "C20261205abc", Money(2900, CNY), "4200001")
    assert (event.payer_id, event.occurred_at) == ("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o", paid_at)
    assert event.event_id == "query:C20261205abc:succeeded"


def test_a_pending_status_is_no_event():
    assert _event_from(PaymentStatus("C20261205abc", PaymentState.PENDING)) is None
