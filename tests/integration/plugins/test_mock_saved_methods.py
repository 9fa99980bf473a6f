"""The mock's saved methods (port 1.6, docs/saved-methods.md) over its SQLite remote shared by
several processes: an order opened with `save_method` and paid keeps the payer's method as a token
that remembers the checkout page's `card`; another process (another `MockProvider` on the same
file) reads it back and charges it: `ok` succeeds, `declines` is declined (`card_declined`),
`requires_action` needs the payer; a charge is idempotent by order id (the same id answers the
first outcome, another amount is refused); a detached method cannot be charged; an order without
`save_method` keeps nothing; the customer is the same for the same user; and a file written before
saved methods gains the columns and keeps its orders."""
import sqlite3
from datetime import datetime, timezone

import pytest

from adapters.clock import FixedClock
from domain.errors import ProviderError
from domain.money import CNY, Money
from plugins.mock.provider import MockProvider
from plugins.mock.remote import SqliteRemote
from ports.payment_provider import ChargeState, OffSessionCharge, PaymentOrder, PaymentState

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)


def order(order_id: str, *, save: bool = True) -> PaymentOrder:
    return PaymentOrder(order_id=order_id, session_id=f"ps_{order_id}", amount=Money(900, CNY),
                        description="5 receives", payment_method="credit_card", expires_at=NOW,
                        notify_url="http://payments.test/api/v1/payments/webhooks/mock", save_method=save,
                        customer_reference="mock_cus_1" if save else None)


def mock(path) -> MockProvider:
    return MockProvider(webhook_secret="s", public_url="http://payments.test", clock=FixedClock(NOW),
                        remote=SqliteRemote(str(path)))


def charge(token: str, order_id: str, amount: int = 1700) -> OffSessionCharge:
    return OffSessionCharge(order_id=order_id, amount=Money(amount, CNY), description="10 receives",
                            payment_method="credit_card", token=token, customer_reference="mock_cus_1")


@pytest.mark.parametrize("card, state, reason", [("ok", ChargeState.SUCCEEDED, None),
                                                  ("declines", ChargeState.FAILED, "card_declined"),
                                                  ("requires_action", ChargeState.REQUIRES_PAYER, None)])
async def test_a_method_saved_by_one_process_is_charged_by_another_as_its_card_says(tmp_path, card, state, reason):
    path = tmp_path / "mock.sqlite3"
    first, second = mock(path), mock(path)
    await first.open_payment(order("S1"))
    first.settle("S1", True, card)

    saved = await second.saved_method("S1")
    result = await second.charge_saved_method(charge(saved.token, "C1"))

    assert (saved.label, saved.brand, saved.last4, saved.exp_month, saved.exp_year, saved.payment_method) == \
        ("Mock card •••• 4242", "visa", "4242", 12, 2030, "credit_card")
    assert (result.state, result.failure_reason) == (state, reason)
    again = await first.charge_saved_method(charge(saved.token, "C1"))  # the same order id: the same outcome
    assert (again.state, again.failure_reason) == (state, reason)
    paid = await first.query_payment("C1")
    assert paid.state is {"ok": PaymentState.SUCCEEDED, "declines": PaymentState.FAILED,
                          "requires_action": PaymentState.CLOSED}[card]
    assert paid.amount == Money(1700, CNY)


async def test_the_same_charge_id_with_another_amount_is_refused(tmp_path):
    provider = mock(tmp_path / "mock.sqlite3")
    await provider.open_payment(order("S1"))
    provider.settle("S1", True)
    token = (await provider.saved_method("S1")).token
    await provider.charge_saved_method(charge(token, "C1"))

    with pytest.raises(ProviderError):
        await provider.charge_saved_method(charge(token, "C1", amount=100))


async def test_a_detached_method_cannot_be_charged_and_detaching_again_is_fine(tmp_path):
    provider = mock(tmp_path / "mock.sqlite3")
    await provider.open_payment(order("S1"))
    provider.settle("S1", True)
    token = (await provider.saved_method("S1")).token

    await provider.detach_saved_method(token, customer_reference="mock_cus_1")
    await provider.detach_saved_method(token)

    with pytest.raises(ProviderError):
        await provider.charge_saved_method(charge(token, "C2"))
    with pytest.raises(ProviderError):
        await provider.charge_saved_method(charge("mock_pm_unknown", "C3"))


async def test_an_order_without_save_method_or_unpaid_keeps_nothing(tmp_path):
    provider = mock(tmp_path / "mock.sqlite3")
    await provider.open_payment(order("S1", save=False))
    provider.settle("S1", True)
    await provider.open_payment(order("S2"))
    provider.settle("S2", False)

    assert await provider.saved_method("S1") is None and await provider.saved_method("S2") is None


async def test_the_same_user_has_the_same_customer():
    provider = MockProvider(webhook_secret="s", public_url="http://payments.test", clock=FixedClock(NOW))

    assert await provider.create_customer("alice") == await provider.create_customer("alice")
    assert await provider.create_customer("alice") != await provider.create_customer("bob")
    assert provider.capabilities.can_save_methods and provider.requires_port == (1, 6)


def test_a_file_written_before_saved_methods_gains_the_columns_and_keeps_its_orders(tmp_path):
    path = tmp_path / "old.sqlite3"
    connection = sqlite3.connect(path)
    connection.executescript("""
        CREATE TABLE mock_orders (order_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount INTEGER NOT NULL,
            currency TEXT NOT NULL, description TEXT NOT NULL, payment_method TEXT NOT NULL, expires_at TEXT NOT NULL,
            notify_url TEXT NOT NULL, return_url TEXT, state TEXT NOT NULL, refunded INTEGER NOT NULL DEFAULT 0,
            lines TEXT NOT NULL DEFAULT '[]', flow TEXT);
        INSERT INTO mock_orders VALUES ('S0', 'ps_0', 900, 'CNY', '5 receives', 'credit_card',
            '2026-03-01T00:00:00+00:00', 'http://payments.test/n', NULL, 'succeeded', 0, '[]', NULL);""")
    connection.close()

    remote = SqliteRemote(str(path))

    found = remote.get("S0")
    assert (found.state, found.card, found.order.save_method, found.order.customer_reference) == \
        (PaymentState.SUCCEEDED, "ok", False, None)
    assert remote.saved_method("mock_pm_S0") is None
