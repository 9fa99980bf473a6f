"""Payments the way a payer makes them, end to end over HTTP on the mock provider.

The service runs on a real port (its PAYMENTS_PUBLIC_URL points at it); the payer's browser opens
the session's `payment_url` (the mock's hosted checkout page) and presses Pay or Decline; the mock
then sends its signed notification to the service's own webhook over HTTP, re-sending until it
is acknowledged. Nothing here calls the webhook or the use cases on the mock's behalf: balances
and statuses change only because that notification arrived. Waits are bounded polls of the API.
"""
from __future__ import annotations

from datetime import timedelta

from domain.errors import ProviderError
from e2e_support import (
    CANCEL,
    SESSIONS,
    assert_session,
    assert_transaction,
    buy,
    change_plan,
    membership,
    ok,
    parse_timestamp,
    session,
    transaction,
)
from live import eventually, open_checkout, pay_through_page, submit_checkout
from ports.payment_provider import PaymentState
from qr_reading import read_qr


async def balance_becomes(api, purchased: int, user: str = "u1") -> dict:
    """The membership once it shows `purchased` purchased receives (bounded wait)."""
    return await eventually(lambda: membership(api, user), lambda m: m["receives"]["purchased_remaining"] >= purchased,
                            what=f"{purchased} purchased receives")


async def session_leaves_open(api, session_id: str) -> dict:
    return await eventually(lambda: session(api, session_id), lambda s: s["status"] != "open",
                            what=f"session {session_id} to leave `open`")


async def settled(api) -> None:
    """Every notification the mock sent has been acknowledged (or given up), so nothing is in flight."""
    await api.mock.wait_for_deliveries()


# ---------------------------------------------------------------------- buying receives
async def test_a_payer_buys_receives_on_the_checkout_page_and_the_mocks_notification_credits_them(live_api, browser):
    before = (await membership(live_api))["receives"]

    bought = await buy(live_api, 10, "wechat_pay")
    started = assert_session(bought["session"])
    assert (started["provider"], started["status"], started["amount"]) == ("mock", "open", 1700)
    assert started["payment_url"] == f"{live_api.base_url}/mock-checkout/{started['id']}"

    page = await open_checkout(browser, started["payment_url"])
    assert (page.status, page.content_type) == (200, "text/html")
    assert page.text_of("amount") == "17.00 CNY"
    assert page.text_of("order") == started["order_id"]
    assert page.elements["qr"].tag == "img"
    # The page is the provider's and draws its own QR code; it and the session's both scan as the page's URL.
    assert read_qr(page.elements["qr"].attrs["src"]) == read_qr(started["qr_code_image"]) == [started["payment_url"]]
    assert page.elements["pay"].attrs["value"] == "succeeded" and page.text_of("pay") == "Pay"
    assert page.elements["decline"].attrs["value"] == "failed" and page.text_of("decline") == "Decline"
    assert (await membership(live_api))["receives"] == before  # nothing is credited before the payment

    answer = await submit_checkout(browser, page.forms[0]["action"], "succeeded")
    assert answer.status == 200 and answer.elements["outcome"].attrs["data-outcome"] == "succeeded"

    after = await balance_becomes(live_api, 10)
    await settled(live_api)
    after = await membership(live_api)
    assert after["receives"]["purchased_remaining"] == before["purchased_remaining"] + 10
    assert after["receives"]["balance"] == before["balance"] + 10
    assert after["receives"]["allowance_remaining"] == before["allowance_remaining"]
    detail = await transaction(live_api, bought["transaction"]["id"])
    assert assert_transaction(detail["transaction"])["status"] == "succeeded"
    assert parse_timestamp(detail["transaction"]["completed_at"])
    assert [s["status"] for s in detail["sessions"]] == ["completed"]
    paid_page = await open_checkout(browser, started["payment_url"])
    assert not paid_page.payable and "succeeded" in paid_page.outcome


async def test_pressing_pay_twice_sends_two_notifications_but_credits_once(live_api, browser):
    bought = await buy(live_api, 5, "mock")
    page = await open_checkout(browser, bought["session"]["payment_url"])

    await submit_checkout(browser, page.forms[0]["action"], "succeeded")
    await submit_checkout(browser, page.forms[0]["action"], "succeeded")  # a double click, a resent form
    await settled(live_api)

    assert (await membership(live_api))["receives"]["purchased_remaining"] == 5
    assert (await session(live_api, bought["session"]["id"]))["status"] == "completed"


async def test_the_checkout_page_of_an_unknown_session_is_not_found(live_api, browser):
    assert (await open_checkout(browser, f"{live_api.base_url}/mock-checkout/ps_nothing")).status == 404
    assert (await submit_checkout(browser, f"{live_api.base_url}/mock-checkout/ps_nothing", "succeeded")).status == 404


async def test_a_page_submitted_without_a_valid_outcome_changes_nothing(live_api, browser):
    bought = await buy(live_api, 5)
    url = bought["session"]["payment_url"]
    action = (await open_checkout(browser, url)).forms[0]["action"]

    answer = await submit_checkout(browser, action, "maybe")

    assert answer.status == 422 and answer.outcome == "Choose Pay or Decline."
    assert (await open_checkout(browser, url)).payable
    assert (await session(live_api, bought["session"]["id"]))["status"] == "open"


# ---------------------------------------------------------------------- declined, then a retry
async def test_a_declined_attempt_fails_its_session_and_a_retry_in_a_new_session_credits_once(live_api, browser):
    bought = await buy(live_api, 5, "alipay")
    first = bought["session"]

    declined = await pay_through_page(browser, first["payment_url"], "failed")
    assert declined.elements["outcome"].attrs["data-outcome"] == "failed"
    assert (await session_leaves_open(live_api, first["id"]))["status"] == "failed"
    detail = await transaction(live_api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "pending"
    assert detail["transaction"]["failure_reason"] == "declined"
    assert (await membership(live_api))["receives"]["purchased_remaining"] == 0
    assert not (await open_checkout(browser, first["payment_url"])).payable

    retry = assert_session(await ok(await live_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}),
                                    201))
    assert retry["id"] != first["id"] and retry["order_id"] != first["order_id"]
    assert (retry["status"], retry["amount"], retry["payment_method"]) == ("open", 900, "alipay")
    await pay_through_page(browser, retry["payment_url"])

    await balance_becomes(live_api, 5)
    await settled(live_api)
    assert (await membership(live_api))["receives"]["purchased_remaining"] == 5
    detail = await transaction(live_api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "succeeded"
    assert {s["id"]: s["status"] for s in detail["sessions"]} == {first["id"]: "failed", retry["id"]: "completed"}
    assert (await session(live_api, first["id"]))["status"] == "failed"


# ---------------------------------------------------------------------- plans
async def test_upgrades_through_the_page_then_a_downgrade_is_scheduled_for_the_period_end(
        make_live_api, clock, browser):
    api = await make_live_api(clock=clock)

    status, to_pro = await change_plan(api, "pro", "wechat_pay")
    assert status == 201
    assert to_pro["proration"] == {"credit": 0, "debit": 2900, "charge": 2900, "period_end": None}
    page = await open_checkout(browser, to_pro["session"]["payment_url"])
    assert page.text_of("amount") == "29.00 CNY"
    await pay_through_page(browser, to_pro["session"]["payment_url"])
    pro = await eventually(lambda: membership(api), lambda m: m["plan"] == "pro", what="the pro plan")
    assert pro["receives"]["monthly_allowance"] == 20 and pro["receives"]["allowance_remaining"] == 20
    assert parse_timestamp(pro["current_period_start"]) == clock.now()

    clock.advance(timedelta(days=14))  # 14 of March's 31 days used: 17/31 of the period remains
    status, to_vip = await change_plan(api, "vip", "alipay")
    assert status == 201
    # credit = 2900 × 17/31 = 1590.32 → 1590, debit = 5900 × 17/31 = 3235.48 → 3235
    assert to_vip["proration"]["credit"] == 1590 and to_vip["proration"]["debit"] == 3235
    assert to_vip["proration"]["charge"] == 1645 == to_vip["session"]["amount"]
    assert (await open_checkout(browser, to_vip["session"]["payment_url"])).text_of("amount") == "16.45 CNY"
    await pay_through_page(browser, to_vip["session"]["payment_url"])
    vip = await eventually(lambda: membership(api), lambda m: m["plan"] == "vip", what="the vip plan")
    assert vip["receives"]["monthly_allowance"] == 100 and vip["receives"]["allowance_remaining"] == 100
    assert vip["current_period_end"] == pro["current_period_end"]  # an upgrade between paid plans keeps the period

    clock.advance(timedelta(minutes=1))
    status, down = await change_plan(api, "basic", None)
    assert status == 200 and down["session"] is None
    assert (down["transaction"]["type"], down["transaction"]["status"], down["transaction"]["total"]) == \
        ("plan_downgrade", "succeeded", 0)
    assert down["effective_at"] == vip["current_period_end"]
    after = await membership(api)
    assert after["plan"] == "vip"  # until the period ends
    assert after["scheduled_change"] == {"plan": "basic", "effective_at": vip["current_period_end"]}
    await settled(api)
    kinds = [(t["type"], t["status"]) for t in (await ok(await api.get("/api/v1/payments/transactions")))["items"]]
    assert kinds == [("plan_downgrade", "succeeded"), ("plan_upgrade", "succeeded"), ("plan_upgrade", "succeeded")]


# ---------------------------------------------------------------------- cancelling
async def test_cancelling_closes_the_mock_order_so_its_page_can_no_longer_be_paid(live_api, browser):
    bought = await buy(live_api, 10, "wechat_pay")
    url = bought["session"]["payment_url"]
    stale = await open_checkout(browser, url)  # the payer has the page open
    assert stale.payable

    cancelled = await ok(await live_api.post(CANCEL, {"transaction_id": bought["transaction"]["id"],
                                                      "reason": "changed my mind"}))

    assert (cancelled["transaction"]["status"], cancelled["transaction"]["cancel_reason"]) == \
        ("cancelled", "changed my mind")
    assert (await session(live_api, bought["session"]["id"]))["status"] == "cancelled"
    assert (await live_api.mock.query_payment(bought["session"]["order_id"])).state is PaymentState.CLOSED
    reopened = await open_checkout(browser, url)
    assert reopened.status == 200 and not reopened.payable and reopened.outcome == "This order is closed."

    late = await submit_checkout(browser, stale.forms[0]["action"], "succeeded")  # the stale page's Pay
    assert late.status == 409 and late.outcome == "This order is closed and can no longer be paid."
    await settled(live_api)
    assert (await live_api.mock.query_payment(bought["session"]["order_id"])).state is PaymentState.CLOSED
    assert (await membership(live_api))["receives"]["purchased_remaining"] == 0
    assert (await transaction(live_api, bought["transaction"]["id"]))["transaction"]["status"] == "cancelled"


# ---------------------------------------------------------------------- expiry
async def test_an_expired_session_reads_expired_at_once_and_the_sweep_expires_it_and_closes_the_order(
        make_live_api, clock, browser):
    api = await make_live_api(clock=clock)
    bought = await buy(api, 10)
    sid, order_id = bought["session"]["id"], bought["session"]["order_id"]
    expires_at = parse_timestamp(bought["session"]["expires_at"])
    assert expires_at == clock.now() + timedelta(hours=1)

    clock.set(expires_at - timedelta(seconds=1))
    assert (await session(api, sid))["status"] == "open"
    clock.set(expires_at)

    assert (await session(api, sid))["status"] == "expired"  # before any sweep
    assert [s["status"] for s in (await transaction(api, bought["transaction"]["id"]))["sessions"]] == ["expired"]
    assert (await api.mock.query_payment(order_id)).state is PaymentState.PENDING  # not swept yet

    report = await api.use_cases.expire_sessions()

    assert (report.sessions_expired, report.transactions_expired) == (1, 1)
    detail = await transaction(api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "expired"
    assert [s["status"] for s in detail["sessions"]] == ["expired"]
    assert (await api.mock.query_payment(order_id)).state is PaymentState.CLOSED
    page = await open_checkout(browser, bought["session"]["payment_url"])
    assert not page.payable and page.outcome == "This order is closed."
    again = await api.use_cases.expire_sessions()
    assert (again.sessions_expired, again.transactions_expired) == (0, 0)
    assert (await membership(api))["receives"]["purchased_remaining"] == 0


async def test_the_sweep_leaves_a_session_that_is_not_yet_due(make_live_api, clock, browser):
    api = await make_live_api(clock=clock)
    bought = await buy(api, 10)
    clock.advance(timedelta(minutes=59))

    report = await api.use_cases.expire_sessions()

    assert (report.sessions_expired, report.transactions_expired) == (0, 0)
    assert (await open_checkout(browser, bought["session"]["payment_url"])).payable
    await pay_through_page(browser, bought["session"]["payment_url"])
    await balance_becomes(api, 10)


# ---------------------------------------------------------------------- duplicate payments
async def test_a_late_payment_of_a_replaced_session_whose_order_could_not_be_closed_is_refunded(live_api, browser):
    bought = await buy(live_api, 10, "wechat_pay")
    first = bought["session"]
    live_api.mock.inject_fault("close_payment", ProviderError("the provider is busy"))
    second = await ok(await live_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"],
                                                     "payment_method": "alipay"}), 201)
    assert (await session(live_api, first["id"]))["status"] == "cancelled"
    assert (await open_checkout(browser, first["payment_url"])).payable  # closing it failed

    await pay_through_page(browser, second["payment_url"])
    await balance_becomes(live_api, 10)
    await pay_through_page(browser, first["payment_url"])  # the payer had scanned the first code too

    late = await eventually(lambda: session(live_api, first["id"]), lambda s: s["status"] == "refunded",
                            what="the late session to read refunded")
    await settled(live_api)
    assert parse_timestamp(late["completed_at"])
    assert (await session(live_api, second["id"]))["status"] == "completed"
    detail = await transaction(live_api, bought["transaction"]["id"])
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("succeeded", 0)
    assert (await membership(live_api))["receives"]["purchased_remaining"] == 10
    assert live_api.mock.order_for_session(first["id"]).refunded == first["amount"]  # the money went back
    assert live_api.mock.order_for_session(second["id"]).refunded == 0


async def test_a_payment_whose_notification_was_still_in_flight_when_a_new_session_was_paid_is_refunded(
        live_api, browser):
    bought = await buy(live_api, 10, "wechat_pay")
    first = bought["session"]
    # The payer pays the first order at the mock; its notification is not through yet (the mock
    # will re-send it), and meanwhile the frontend opens a second session, which the payer pays.
    _, in_flight = live_api.mock.settle(first["order_id"], True)
    second = await ok(await live_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}), 201)
    assert (await live_api.mock.query_payment(first["order_id"])).state is PaymentState.SUCCEEDED  # paid: not closable
    await pay_through_page(browser, second["payment_url"])
    await balance_becomes(live_api, 10)

    notify_url = live_api.mock.order_for_session(first["id"]).order.notify_url
    assert notify_url == f"{live_api.base_url}/api/v1/payments/webhooks/mock"
    assert await live_api.mock.deliver(notify_url, in_flight)  # the mock's re-delivery gets through

    assert (await session(live_api, first["id"]))["status"] == "refunded"
    assert (await session(live_api, second["id"]))["status"] == "completed"
    detail = await transaction(live_api, bought["transaction"]["id"])
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("succeeded", 0)
    await settled(live_api)
    assert (await membership(live_api))["receives"]["purchased_remaining"] == 10
    assert live_api.mock.order_for_session(first["id"]).refunded == 1700
