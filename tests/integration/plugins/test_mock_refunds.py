"""The mock's refunds settle at its remote side: at once by default (`refund` answers `succeeded`,
nothing to notify), later with PAYMENTS_MOCK_REFUND_DELAY_SECONDS (`pending`, then a signed
`refund.succeeded` notification to the refund's notify_url and `query_refund` saying so), and
`failed` with the provider's reason under the `refund_outcome=failed` drill; one settlement per
attempt across processes (its SQLite file), a failed refund sent again under the same id, and a
file written before refunds had a state keeps its refunds as succeeded."""
from __future__ import annotations

import asyncio
import json
import sqlite3
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from adapters.clock import FixedClock
from domain.errors import ProviderError
from domain.money import CNY, Money
from plugins.mock import MockProvider
from plugins.mock.faults import FaultPlan
from plugins.mock.remote import InMemoryRemote, SqliteRemote
from ports.payment_provider import PaymentOrder, ProviderEventKind, RefundOrder, RefundState

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
NOTIFY_URL = "http://payments.test/api/v1/payments/webhooks/mock"
ORDER = PaymentOrder(order_id="S20260301REF001", session_id="ps_1", amount=Money(1700, CNY), description="10 receives",
                     payment_method="mock", expires_at=NOW + timedelta(hours=1), notify_url=NOTIFY_URL)


class Received:
    """The service's webhook, as the mock's HTTP client sees it: every notification it POSTs."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, dict[str, str], bytes]] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._answer))

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.posts.append((str(request.url), dict(request.headers), request.content))
        return httpx.Response(200, json={"received": True})

    def bodies(self) -> list[dict]:
        return [json.loads(body) for _, _, body in self.posts]


def a_mock(*, delay: float = 0, faults: str = "", remote=None, clock=None, received: Received | None = None):
    plan = FaultPlan.from_settings({"PAYMENTS_MOCK_FAULTS": faults, "PAYMENTS_MOCK_REFUND_DELAY_SECONDS": str(delay)})
    return MockProvider(webhook_secret="s", public_url="http://payments.test", clock=clock or FixedClock(NOW),
                        remote=remote if remote is not None else InMemoryRemote(), redelivery_delays=(0,),
                        faults=plan, http=received.client if received else None)


def a_paid_order(mock: MockProvider) -> None:
    mock._remote.open(ORDER)  # noqa: SLF001 (the remote side, as the payer's page would)
    mock.settle(ORDER.order_id, True)


def refund_of(amount: int, refund_order_id: str = "R20260301REF001") -> RefundOrder:
    return RefundOrder(refund_order_id=refund_order_id, payment_order_id=ORDER.order_id, amount=Money(amount, CNY),
                       payment_total=ORDER.amount, reason="requested_by_customer", notify_url=NOTIFY_URL)


async def test_by_default_a_refund_succeeds_at_once_and_nothing_is_notified():
    received = Received()
    mock = a_mock(received=received)
    a_paid_order(mock)

    answer = await mock.refund(refund_of(700))

    assert (answer.state, answer.failure_reason) == (RefundState.SUCCEEDED, None)
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.SUCCEEDED
    await mock.wait_for_deliveries()
    assert received.posts == []


async def test_with_a_delay_a_refund_pends_then_settles_and_is_notified_once():
    received = Received()
    mock = a_mock(delay=0.05, received=received, clock=FixedClock(NOW))
    a_paid_order(mock)

    answer = await mock.refund(refund_of(700))
    again = await mock.refund(refund_of(700))  # the same refund id: the same refund, not a second one

    assert (answer.state, again.state) == (RefundState.PENDING, RefundState.PENDING)
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.PENDING
    await asyncio.wait_for(mock.wait_for_deliveries(), 5)
    [(url, headers, body)] = received.posts
    event = mock.parse_notification(headers, body)
    assert (url, event.kind, event.order_id, event.refund_order_id, event.amount) == \
        (NOTIFY_URL, ProviderEventKind.REFUND_SUCCEEDED, ORDER.order_id, answer.refund_order_id, Money(700, CNY))
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.SUCCEEDED
    assert mock._remote.get(ORDER.order_id).refunded == 700  # noqa: SLF001 (once, not twice)


async def test_a_pending_refund_counts_against_what_is_left():
    mock = a_mock(delay=60)
    a_paid_order(mock)
    await mock.refund(refund_of(1000))

    with pytest.raises(ProviderError):
        await mock.refund(refund_of(701, "R20260301REF002"))
    mock.cancel_background()


async def test_a_query_settles_a_refund_that_is_due_and_that_process_notifies_it():
    clock, received = FixedClock(NOW), Received()
    mock = a_mock(delay=60, received=received, clock=clock)
    a_paid_order(mock)
    answer = await mock.refund(refund_of(1700))
    mock.cancel_background()  # the process that took it stopped before its timer fired

    clock.advance(timedelta(seconds=59))
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.PENDING
    clock.advance(timedelta(seconds=1))
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.SUCCEEDED
    assert (await mock.query_refund(answer.refund_order_id, ORDER.order_id)).state is RefundState.SUCCEEDED

    await asyncio.wait_for(mock.wait_for_deliveries(), 5)
    assert [b["type"] for b in received.bodies()] == ["refund.succeeded"]


async def test_the_drill_accepts_a_refund_then_fails_it_with_a_reason_and_a_retry_is_a_new_attempt():
    received = Received()
    mock = a_mock(faults="refund_outcome=failed:1", received=received)
    a_paid_order(mock)

    answer = await mock.refund(refund_of(1700))

    assert answer.state is RefundState.PENDING
    await asyncio.wait_for(mock.wait_for_deliveries(), 5)
    [(_, headers, body)] = received.posts
    event = mock.parse_notification(headers, body)
    assert (event.kind, event.refund_order_id, event.failure_reason) == \
        (ProviderEventKind.REFUND_FAILED, answer.refund_order_id, "insufficient_merchant_balance")
    queried = await mock.query_refund(answer.refund_order_id, ORDER.order_id)
    assert (queried.state, queried.failure_reason) == (RefundState.FAILED, "insufficient_merchant_balance")
    assert mock._remote.get(ORDER.order_id).refunded == 0  # noqa: SLF001 (the money never left)

    mock.fault_plan.faults.clear()  # the merchant topped up: the drill is lifted
    retried = await mock.refund(refund_of(1700))

    assert (retried.refund_order_id, retried.state, retried.failure_reason) == \
        (answer.refund_order_id, RefundState.SUCCEEDED, None)
    assert mock._remote.get(ORDER.order_id).refunded == 1700  # noqa: SLF001


async def test_a_retry_settles_later_with_a_notification_of_its_own():
    received = Received()
    mock = a_mock(delay=0.02, faults="refund_outcome=failed:1", received=received)
    a_paid_order(mock)
    await mock.refund(refund_of(1700))
    await asyncio.wait_for(mock.wait_for_deliveries(), 5)

    mock.fault_plan.faults.clear()
    assert (await mock.refund(refund_of(1700))).state is RefundState.PENDING
    await asyncio.wait_for(mock.wait_for_deliveries(), 5)

    first, second = received.bodies()
    assert (first["type"], second["type"]) == ("refund.failed", "refund.succeeded")
    assert first["id"] != second["id"], "the retry's outcome must not be taken for a re-delivery of the first"


async def test_two_processes_over_one_file_settle_a_refund_once(tmp_path):
    path = str(tmp_path / "mock.sqlite3")
    clock = FixedClock(NOW)
    one_received, other_received = Received(), Received()
    one = a_mock(delay=30, remote=SqliteRemote(path), clock=clock, received=one_received)
    other = a_mock(delay=30, remote=SqliteRemote(path), clock=clock, received=other_received)
    a_paid_order(one)
    answer = await one.refund(refund_of(500))
    one.cancel_background()
    clock.advance(timedelta(seconds=30))

    results = [await other.query_refund(answer.refund_order_id, ORDER.order_id),
               await one.query_refund(answer.refund_order_id, ORDER.order_id)]

    assert [r.state for r in results] == [RefundState.SUCCEEDED, RefundState.SUCCEEDED]
    await asyncio.wait_for(asyncio.gather(one.wait_for_deliveries(), other.wait_for_deliveries()), 5)
    assert (len(one_received.posts), len(other_received.posts)) == (0, 1)
    assert one._remote.get(ORDER.order_id).refunded == 500  # noqa: SLF001


async def test_a_file_written_before_refunds_had_a_state_keeps_them_as_succeeded(tmp_path):
    path = str(tmp_path / "old.sqlite3")
    with sqlite3.connect(path) as old:
        old.execute("CREATE TABLE mock_refunds (refund_order_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, "
                    "amount INTEGER NOT NULL)")
        old.execute("INSERT INTO mock_refunds VALUES ('R20260101OLD001', ?, 300)", (ORDER.order_id,))
    mock = a_mock(remote=SqliteRemote(path))

    result = await mock.query_refund("R20260101OLD001", ORDER.order_id)

    assert (result.state, result.failure_reason) == (RefundState.SUCCEEDED, None)


def test_the_refund_drill_and_delay_are_checked_settings():
    plan = FaultPlan.from_settings({"PAYMENTS_MOCK_FAULTS": "refund_outcome=failed:1,refund=timeout:0.5",
                                    "PAYMENTS_MOCK_REFUND_DELAY_SECONDS": "2.5"})
    assert (plan.refund_fails(), plan.refund_delay_seconds) == (True, 2.5)
    assert FaultPlan.from_settings({}).refund_delay_seconds == 0
    for bad in ({"PAYMENTS_MOCK_FAULTS": "refund_outcome=error:1"}, {"PAYMENTS_MOCK_REFUND_DELAY_SECONDS": "-1"},
                {"PAYMENTS_MOCK_REFUND_DELAY_SECONDS": "3601"}, {"PAYMENTS_MOCK_REFUND_DELAY_SECONDS": "soon"}):
        with pytest.raises(ValueError):
            FaultPlan.from_settings(bad)
