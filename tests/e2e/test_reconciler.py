"""The reconciler, end to end on the mock provider: when the mock's notification is lost, the
service still learns of the payment by asking the provider (`reconcile_payments`, the job every
server process runs), on the schedule of `domain.session.CHECK_DELAYS`: first a minute after the
session was created. What it finds is applied exactly once.

The app runs on a real port with a fixed clock; the mock is built with `lose_notifications`, so
the payer's Pay on the checkout page reaches the mock but never the service's webhook.
"""
from __future__ import annotations

from datetime import timedelta

import pytest

from e2e_support import SESSIONS, buy, membership, ok, parse_timestamp, session, transaction
from live import eventually, open_checkout, pay_through_page
from ports.payment_provider import PaymentState


@pytest.fixture
async def lossy_api(make_live_api, clock):
    return await make_live_api(clock=clock, lose_notifications=True)


async def purchased(api) -> int:
    return (await membership(api))["receives"]["purchased_remaining"]


async def test_a_lost_notification_is_recovered_by_the_reconciler_and_credited_once(lossy_api, clock, browser):
    bought = await buy(lossy_api, 10)
    answer = await pay_through_page(browser, bought["session"]["payment_url"])
    assert answer.outcome == "Payment succeeded."
    await lossy_api.mock.wait_for_deliveries()  # nothing was sent: nothing is in flight
    assert (await lossy_api.mock.query_payment(bought["session"]["order_id"])).state is PaymentState.SUCCEEDED
    assert await purchased(lossy_api) == 0
    assert (await session(lossy_api, bought["session"]["id"]))["status"] == "open"

    clock.advance(timedelta(seconds=59))
    early = await lossy_api.use_cases.reconcile_payments()
    assert (early.checked, early.applied) == (0, 0)  # the first check is due a minute after creation
    assert await purchased(lossy_api) == 0

    clock.advance(timedelta(seconds=1))
    report = await lossy_api.use_cases.reconcile_payments()

    assert (report.checked, report.applied) == (1, 1)
    assert await purchased(lossy_api) == 10
    paid = await session(lossy_api, bought["session"]["id"])
    assert paid["status"] == "completed" and parse_timestamp(paid["completed_at"]) == clock.now()
    assert (await transaction(lossy_api, bought["transaction"]["id"]))["transaction"]["status"] == "succeeded"

    again = await lossy_api.use_cases.reconcile_payments()
    assert (again.checked, again.applied) == (0, 0)
    for later in (timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2)):  # a paid session: never again
        clock.advance(later)
        assert (await lossy_api.use_cases.reconcile_payments()).checked == 0
    assert await purchased(lossy_api) == 10


async def test_an_unpaid_session_is_asked_again_on_schedule_and_nothing_is_credited(lossy_api, clock, browser):
    bought = await buy(lossy_api, 10)
    checks = []
    for minutes in (1, 5, 15, 30):
        clock.set(parse_timestamp(bought["session"]["created_at"]) + timedelta(minutes=minutes))
        checks.append((await lossy_api.use_cases.reconcile_payments()).checked)
    assert checks == [1, 1, 1, 1]
    assert (await lossy_api.use_cases.reconcile_payments()).checked == 0  # the next is after expiry
    assert (await open_checkout(browser, bought["session"]["payment_url"])).payable
    assert await purchased(lossy_api) == 0
    assert (await session(lossy_api, bought["session"]["id"]))["status"] == "open"


async def test_a_lost_decline_is_recovered_as_a_failed_attempt_and_a_retry_still_pays(lossy_api, clock, browser):
    bought = await buy(lossy_api, 5)
    await pay_through_page(browser, bought["session"]["payment_url"], "failed")
    clock.advance(timedelta(minutes=1))

    report = await lossy_api.use_cases.reconcile_payments()

    assert (report.checked, report.applied) == (1, 1)
    assert (await session(lossy_api, bought["session"]["id"]))["status"] == "failed"
    detail = (await transaction(lossy_api, bought["transaction"]["id"]))["transaction"]
    assert (detail["status"], detail["failure_reason"]) == ("pending", "declined")

    retry = await ok(await lossy_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}), 201)
    await pay_through_page(browser, retry["payment_url"])
    clock.advance(timedelta(minutes=1))
    assert (await lossy_api.use_cases.reconcile_payments()).applied == 1
    assert await purchased(lossy_api) == 5


async def test_a_payment_made_just_before_the_sweep_closed_its_order_is_not_lost(lossy_api, clock, browser):
    """The payer paid; the notification was lost; the session expired and the sweep expired the
    transaction (closing the paid order fails, which is logged). The check a minute after the end
    finds the payment: the transaction succeeds after all and the receives are delivered."""
    bought = await buy(lossy_api, 10)
    await pay_through_page(browser, bought["session"]["payment_url"])
    clock.set(parse_timestamp(bought["session"]["expires_at"]))
    await lossy_api.use_cases.expire_sessions()
    assert (await transaction(lossy_api, bought["transaction"]["id"]))["transaction"]["status"] == "expired"
    assert await purchased(lossy_api) == 0

    clock.advance(timedelta(minutes=1))
    report = await lossy_api.use_cases.reconcile_payments()

    assert report.applied == 1
    detail = await transaction(lossy_api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "succeeded"
    assert [s["status"] for s in detail["sessions"]] == ["completed"]
    assert await purchased(lossy_api) == 10
    clock.advance(timedelta(minutes=5))
    assert (await lossy_api.use_cases.reconcile_payments()).checked == 0
    assert await purchased(lossy_api) == 10


async def test_an_expired_unpaid_session_gets_one_last_check_and_then_none(lossy_api, clock):
    bought = await buy(lossy_api, 10)
    clock.set(parse_timestamp(bought["session"]["expires_at"]))
    await lossy_api.use_cases.expire_sessions()
    assert (await lossy_api.mock.query_payment(bought["session"]["order_id"])).state is PaymentState.CLOSED

    clock.advance(timedelta(minutes=1))
    last = await lossy_api.use_cases.reconcile_payments()
    clock.advance(timedelta(hours=1))
    after = await lossy_api.use_cases.reconcile_payments()

    assert (last.checked, after.checked) == (1, 0)
    detail = await transaction(lossy_api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "expired"
    assert [s["status"] for s in detail["sessions"]] == ["expired"]
    assert await purchased(lossy_api) == 0


# ---------------------------------------------------------------------- the background jobs
@pytest.fixture
def quick_jobs(monkeypatch):
    """The app's background jobs every 20 ms instead of every 10-15 s."""
    from entrypoints.http import app as app_module

    monkeypatch.setattr(app_module, "SWEEP_INTERVAL", timedelta(milliseconds=20))
    monkeypatch.setattr(app_module, "RECONCILE_INTERVAL", timedelta(milliseconds=20))


async def test_the_background_jobs_recover_a_lost_payment_and_expire_an_unpaid_purchase(
        make_live_api, clock, browser, quick_jobs):
    api = await make_live_api(clock=clock, lose_notifications=True, background_jobs=True)
    paid = await buy(api, 10)
    unpaid = await buy(api, 1)
    await pay_through_page(browser, paid["session"]["payment_url"])
    assert await purchased(api) == 0

    clock.advance(timedelta(minutes=1))  # the reconciler's first check is due
    await eventually(lambda: purchased(api), lambda n: n == 10, what="the reconciler job to credit the payment")
    clock.set(parse_timestamp(unpaid["session"]["expires_at"]))  # the sweep is due
    # The transaction reads expired at once (issue 12); the sweep's own work is closing the order.
    await eventually(lambda: api.mock.query_payment(unpaid["session"]["order_id"]),
                     lambda status: status.state is PaymentState.CLOSED, what="the sweep job")
    expired = await transaction(api, unpaid["transaction"]["id"])

    assert expired["transaction"]["status"] == "expired"
    assert [s["status"] for s in expired["sessions"]] == ["expired"]
    assert await purchased(api) == 10
    assert (await transaction(api, paid["transaction"]["id"]))["transaction"]["status"] == "succeeded"
