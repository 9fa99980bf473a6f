"""The payer's flows on the mock provider over the real SQL adapter on PostgreSQL, where the
database is what makes them safe: row locks, `FOR UPDATE SKIP LOCKED` claims of the sweep and
the reconciler, and unique event ids when two server processes handle the same order.

Each app is built by the real composition root (`build_container(config)`) and served on a real
port; two apps on one database stand for two server processes. The clock is fixed and shared.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from adapters.clock import FixedClock
from domain.errors import ProviderError
from live import eventually, open_checkout, pay_through_page, submit_checkout
from ports.payment_provider import PaymentState

pytestmark = pytest.mark.postgres

RECEIVES = "/api/v1/payments/receives"
SESSIONS = "/api/v1/payments/sessions"
TRANSACTIONS = "/api/v1/payments/transactions"
MEMBERSHIP = "/api/v1/payments/membership"


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))


async def purchased(app, user: str = "u1") -> int:
    return (await app.service.get(MEMBERSHIP, user=user))["receives"]["purchased_remaining"]


async def test_a_purchase_paid_on_the_page_is_credited_once_even_when_pay_is_pressed_twice(
        make_sql_app, clean_postgres_url, clock, browser):
    app = await make_sql_app(clean_postgres_url, clock=clock)
    bought = await app.service.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, expect=201)
    page = await open_checkout(browser, bought["session"]["payment_url"])
    assert page.text_of("amount") == "17.00 CNY" and page.text_of("order") == bought["session"]["order_id"]

    await asyncio.gather(*(submit_checkout(browser, page.forms[0]["action"], "succeeded") for _ in range(3)))

    await eventually(lambda: purchased(app), lambda n: n >= 10, what="the credit")
    await app.mock.wait_for_deliveries()
    assert await purchased(app) == 10
    detail = await app.service.get(f"{TRANSACTIONS}/{bought['transaction']['id']}")
    assert detail["transaction"]["status"] == "succeeded"
    assert [s["status"] for s in detail["sessions"]] == ["completed"]


async def test_one_notification_delivered_to_two_processes_at_once_is_applied_once(
        make_sql_app, clean_postgres_url, clock):
    a = await make_sql_app(clean_postgres_url, clock=clock)
    b = await make_sql_app(clean_postgres_url, clock=clock)
    bought = await a.service.post(RECEIVES, {"amount": 10, "payment_method": "alipay"}, expect=201)
    _, body = a.mock.settle(bought["session"]["order_id"], True)  # paid at the mock; one notification

    delivered = await asyncio.gather(
        *(app.mock.deliver(f"{app.service.base_url}/api/v1/payments/webhooks/mock", body) for app in (a, b, a, b)))

    assert delivered == [True] * 4  # every delivery acknowledged
    assert await purchased(a) == await purchased(b) == 10


async def test_the_reconcilers_of_two_processes_split_the_due_sessions_and_credit_each_once(
        make_sql_app, clean_postgres_url, clock, browser):
    a = await make_sql_app(clean_postgres_url, clock=clock, PAYMENTS_MOCK_LOSE_NOTIFICATIONS="true")
    b = await make_sql_app(clean_postgres_url, clock=clock, PAYMENTS_MOCK_LOSE_NOTIFICATIONS="true")
    users = [f"u{n}" for n in range(6)]
    for user in users:
        bought = await a.service.post(RECEIVES, {"amount": 5, "payment_method": "mock"}, user=user, expect=201)
        await pay_through_page(browser, bought["session"]["payment_url"])
    assert [await purchased(a, user) for user in users] == [0] * 6  # every notification was lost
    clock.advance(timedelta(minutes=1))

    reports = await asyncio.gather(*(app.use_cases.reconcile_payments() for app in (a, b, a, b)))

    assert sum(r.checked for r in reports) == 6 and sum(r.applied for r in reports) == 6
    assert [await purchased(b, user) for user in users] == [5] * 6
    again = await asyncio.gather(a.use_cases.reconcile_payments(), b.use_cases.reconcile_payments())
    assert sum(r.checked for r in again) == 0


async def test_the_sweeps_of_two_processes_expire_each_session_once_and_close_its_order(
        make_sql_app, clean_postgres_url, clock, browser):
    a = await make_sql_app(clean_postgres_url, clock=clock)
    b = await make_sql_app(clean_postgres_url, clock=clock)
    sessions = [(await a.service.post(RECEIVES, {"amount": 1, "payment_method": "mock"}, user=f"u{n}",
                                      expect=201))["session"] for n in range(5)]
    clock.advance(timedelta(hours=1))

    reports = await asyncio.gather(*(app.use_cases.expire_sessions() for app in (a, b, a, b)))

    assert sum(r.sessions_expired for r in reports) == 5 and sum(r.transactions_expired for r in reports) == 5
    for n, started in enumerate(sessions):
        detail = await b.service.get(f"{TRANSACTIONS}/{started['transaction_id']}", user=f"u{n}")
        assert (detail["transaction"]["status"], [s["status"] for s in detail["sessions"]]) == ("expired", ["expired"])
        assert (await a.mock.query_payment(started["order_id"])).state is PaymentState.CLOSED
        assert not (await open_checkout(browser, started["payment_url"])).payable


async def test_a_late_payment_of_a_replaced_session_is_refunded_and_credits_nothing_more(
        make_sql_app, clean_postgres_url, clock, browser):
    a = await make_sql_app(clean_postgres_url, clock=clock)
    b = await make_sql_app(clean_postgres_url, clock=clock)
    bought = await a.service.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, expect=201)
    first = bought["session"]
    b.mock.inject_fault("close_payment", ProviderError("the provider is busy"))
    second = await b.service.post(SESSIONS, {"transaction_id": bought["transaction"]["id"],
                                             "payment_method": "alipay"}, expect=201)

    await pay_through_page(browser, second["payment_url"])  # B's page, B's webhook
    await eventually(lambda: purchased(a), lambda n: n == 10, what="the credit")
    await pay_through_page(browser, first["payment_url"])  # A's page, A's webhook: a second payment

    late = await eventually(lambda: a.service.get(f"{SESSIONS}/{first['id']}"), lambda s: s["status"] == "refunded",
                            what="the late session to read refunded")
    assert late["completed_at"]
    await a.mock.wait_for_deliveries()
    detail = await b.service.get(f"{TRANSACTIONS}/{bought['transaction']['id']}")
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("succeeded", 0)
    assert {s["id"]: s["status"] for s in detail["sessions"]} == {first["id"]: "refunded", second["id"]: "completed"}
    assert await purchased(b) == 10
    assert a.mock.order_for_session(first["id"]).refunded == 1700  # the mock's shared remote side
