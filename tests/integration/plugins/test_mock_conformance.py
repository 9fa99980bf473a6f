"""The mock provider plugin passes the provider conformance kit (plugins.conformance), with its
remote side in memory and in its SQLite file (a `harness` fixture parametrises the suite)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from adapters.clock import FixedClock
from plugins.conformance import TOLERANCE_SECONDS, BaseHarness, Notification, ProviderConformance
from plugins.mock import MockProvider
from plugins.mock.wire import SIGNATURE_HEADER
from plugins.mock.remote import InMemoryRemote, SqliteRemote
from ports.payment_provider import PaymentOrder

SECRET = "conformance-mock-secret"
PUBLIC_URL = "http://payments.test"


class MockHarness(BaseHarness):
    """The mock on a fixed clock; its notifications are its own `notification_for` (the bytes and
    `Mock-Signature` it sends), forged and stale ones are a second mock's with another key or clock."""

    def __init__(self, remote: InMemoryRemote | SqliteRemote) -> None:
        self.clock = FixedClock(datetime(2026, 3, 1, 12, tzinfo=timezone.utc))
        self.provider = MockProvider(webhook_secret=SECRET, public_url=PUBLIC_URL, clock=self.clock, remote=remote)

    def signed_notification(self, order: PaymentOrder, *, succeeded: bool = True) -> Notification:
        return self.provider.notification_for(order, succeeded)

    def forged_notification(self, order: PaymentOrder) -> Notification:
        forger = MockProvider(webhook_secret="not-" + SECRET, public_url=PUBLIC_URL, clock=self.clock)
        return forger.notification_for(order, True)

    def stale_notification(self, order: PaymentOrder, *, age_seconds: int = TOLERANCE_SECONDS + 1) -> Notification:
        then = FixedClock(self.clock.now() - timedelta(seconds=age_seconds))
        return MockProvider(webhook_secret=SECRET, public_url=PUBLIC_URL, clock=then).notification_for(order, True)

    def sign_body(self, body: bytes, *, age_seconds: int = 0) -> dict[str, str]:
        return {SIGNATURE_HEADER: self.provider.sign(body, int(self.clock.now().timestamp()) - age_seconds)}

    def pay_remotely(self, order_id: str) -> None:
        self.provider.settle(order_id, True)

    def signed_refund_notification(self, order: PaymentOrder, refund_order_id: str, *,
                                   succeeded: bool = True) -> Notification:
        return self.provider.refund_notification_for(order, refund_order_id, order.amount.amount, succeeded,
                                                     None if succeeded else "insufficient_merchant_balance")

    # No `fail_remote_with`: the mock has no transport to fail (its fault drills inject
    # ProviderErrors directly, see MockProvider.inject_fault), so those checks skip with that reason.


@pytest.fixture(params=["in_memory", "sqlite"])
def harness(request: pytest.FixtureRequest, tmp_path):
    if request.param == "in_memory":
        yield MockHarness(InMemoryRemote())
        return
    remote = SqliteRemote(str(tmp_path / "mock-remote.sqlite3"))
    yield MockHarness(remote)
    remote.close()


class TestMockProvider(ProviderConformance):
    """The whole kit, once per remote side (the `harness` fixture above)."""
