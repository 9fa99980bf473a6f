"""The operators' endpoints end to end, through the real app on a test server (in-memory
adapters, a fixed clock), with exact figures from known data: purchases and plan upgrades paid at
the mock, a declined and a cancelled attempt, a refund approved by an admin; then the user
lookup, every user's transactions with filters, revenue by day in Asia/Shanghai and in UTC,
success rates by method and provider, subscriptions, the providers' health and the gauges of
`/metrics`. Errors: 401, 403 for a user's token, 422 for unknown or bad parameters."""
from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from admin_support import ADMIN, Client, admin_config
from dependency_injector import providers
from e2e_support import pay

from adapters.clock import FixedClock
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from ports.use_cases.refunds.request_refund import RequestRefundCommand
from ports.use_cases.refunds.review_refund import ReviewCommand

T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai


def at(hours: int, minutes: int = 0, seconds: int = 0) -> datetime:
    return datetime(2026, 12, 1, hours, minutes, seconds, tzinfo=UTC)


async def created(response) -> dict:
    assert response.status == 201, await response.text()
    return await response.json()


@pytest.fixture
async def world(aiohttp_client):
    """Six users' payments on 2026-12-01 (UTC), then the clock at 17:30 UTC."""
    clock = FixedClock(T0)
    container = build_container(admin_config(), in_memory=True)
    for adapters in container.adapters.overridden:
        adapters.provides.clock.override(providers.Object(clock))
        adapters.provides.real_clock.override(providers.Object(clock))
    api = Client(await aiohttp_client(create_app(container, background_jobs=False)), container)
    ids: dict[str, str] = {}

    async def buy(user: str, amount: int, method: str) -> dict:
        return await created(await api.post("/api/v1/payments/receives",
                                            {"amount": amount, "payment_method": method}, user=user))

    alice = await buy("alice", 10, "wechat_pay")  # 1700
    clock.advance(timedelta(seconds=30))
    await pay(api, alice["session"])
    clock.current = at(1, 10)
    bob = await buy("bob", 5, "alipay")  # 900
    clock.advance(timedelta(seconds=45))
    await pay(api, bob["session"])
    clock.current = at(15)  # 23:00 in Shanghai
    carol = await created(await api.post("/api/v1/payments/plan", {"new_plan": "pro", "payment_method": "credit_card"},
                                         user="carol"))  # 2900
    clock.advance(timedelta(seconds=60))
    await pay(api, carol["session"])
    clock.current = at(16, 30)  # 00:30 on 12-02 in Shanghai
    dave = await created(await api.post("/api/v1/payments/plan", {"new_plan": "vip", "payment_method": "credit_card"},
                                        user="dave"))  # 5900
    clock.advance(timedelta(seconds=20))
    await pay(api, dave["session"])
    clock.current = at(16, 40)
    erin = await buy("erin", 1, "wechat_pay")
    clock.advance(timedelta(seconds=10))
    await pay(api, erin["session"], succeeded=False)
    clock.current = at(16, 50)
    frank = await buy("frank", 1, "mock")
    clock.current = at(16, 51)
    response = await api.post("/api/v1/payments/cancel", {"transaction_id": frank["transaction"]["id"],
                                                          "reason": "changed my mind"}, user="frank")
    assert response.status == 200, await response.text()
    clock.current = at(17)
    refund = await container.use_cases.request_refund()(RequestRefundCommand(
        "alice", alice["transaction"]["id"], "bought too many", receives=5))  # 850
    clock.current = at(17, 5)  # 01:05 on 12-02 in Shanghai
    await container.use_cases.review_refunds().approve(ReviewCommand("ops", refund.id, "ok"))
    clock.current = at(17, 30)
    for name, made in (("alice", alice), ("bob", bob), ("carol", carol), ("dave", dave), ("erin", erin),
                       ("frank", frank)):
        ids[name] = made["transaction"]["id"]
    ids["refund"] = refund.id
    return api, clock, ids


async def test_revenue_by_day_and_plan_in_shanghai(world):
    api, _, _ = world
    body = await api.admin(f"{ADMIN}/analytics/revenue", date_from="2026-12-01", date_to="2026-12-02",
                           interval="day", group_by="plan", tz="Asia/Shanghai")
    assert body == {"currency": "CNY", "interval": "day", "tz": "Asia/Shanghai", "date_from": "2026-12-01",
                    "date_to": "2026-12-02", "series": [
                        {"period_start": "2026-12-01", "group": None, "gross": 2600, "refunded": 0, "net": 2600,
                         "transactions": 2},
                        {"period_start": "2026-12-01", "group": "pro", "gross": 2900, "refunded": 0, "net": 2900,
                         "transactions": 1},
                        {"period_start": "2026-12-02", "group": None, "gross": 0, "refunded": 850, "net": -850,
                         "transactions": 0},
                        {"period_start": "2026-12-02", "group": "vip", "gross": 5900, "refunded": 0, "net": 5900,
                         "transactions": 1}]}


async def test_revenue_in_utc_by_type_week_and_provider(world):
    api, _, _ = world
    body = await api.admin(f"{ADMIN}/analytics/revenue", date_from="2026-12-01", date_to="2026-12-01", tz="UTC")
    assert body["series"] == [
        {"period_start": "2026-12-01", "group": "plan_upgrade", "gross": 8800, "refunded": 0, "net": 8800,
         "transactions": 2},
        {"period_start": "2026-12-01", "group": "purchase_receives", "gross": 2600, "refunded": 850, "net": 1750,
         "transactions": 2}]
    weekly = await api.admin(f"{ADMIN}/analytics/revenue", date_from="2026-11-30", date_to="2026-12-06",
                             interval="week", group_by="provider", tz="Asia/Shanghai")
    assert weekly["series"] == [{"period_start": "2026-11-30", "group": "mock", "gross": 11400, "refunded": 850,
                                 "net": 10550, "transactions": 4}]
    # A date-time stands for its day in tz; a range that ends before it starts is empty.
    shifted = await api.admin(f"{ADMIN}/analytics/revenue", date_from="2026-11-30T16:00:00Z",
                              date_to="2026-12-01T15:59:59Z", tz="Asia/Shanghai")
    assert (shifted["date_from"], shifted["date_to"]) == ("2026-12-01", "2026-12-01")
    assert [(row["group"], row["net"]) for row in shifted["series"]] == [("plan_upgrade", 2900),
                                                                          ("purchase_receives", 2600)]
    inverted = await api.admin(f"{ADMIN}/analytics/revenue", date_from="2026-12-02", date_to="2026-12-01")
    assert inverted["series"] == []
    # Default range: the 30 days ending today in tz (12-02 in Shanghai at 17:30 UTC).
    default = await api.admin(f"{ADMIN}/analytics/revenue", tz="Asia/Shanghai")
    assert (default["date_from"], default["date_to"], default["interval"]) == ("2026-11-03", "2026-12-02", "day")
    assert sum(row["net"] for row in default["series"]) == 10550


async def test_success_rates_by_method_and_by_provider(world):
    api, _, _ = world
    body = await api.admin(f"{ADMIN}/analytics/success-rates", window="24h", group_by="payment_method")
    assert body == {"window": "24h", "items": [
        {"provider": None, "payment_method": "alipay", "sessions": 1, "completed": 1, "failed": 0, "expired": 0,
         "cancelled": 0, "success_rate_bps": 10000, "median_seconds_to_pay": 45},
        {"provider": None, "payment_method": "credit_card", "sessions": 2, "completed": 2, "failed": 0, "expired": 0,
         "cancelled": 0, "success_rate_bps": 10000, "median_seconds_to_pay": 40},
        {"provider": None, "payment_method": "mock", "sessions": 1, "completed": 0, "failed": 0, "expired": 0,
         "cancelled": 1, "success_rate_bps": 0, "median_seconds_to_pay": None},
        {"provider": None, "payment_method": "wechat_pay", "sessions": 2, "completed": 1, "failed": 1, "expired": 0,
         "cancelled": 0, "success_rate_bps": 5000, "median_seconds_to_pay": 30}]}
    by_provider = await api.admin(f"{ADMIN}/analytics/success-rates", window="24h")
    assert by_provider["items"] == [
        {"provider": "mock", "payment_method": None, "sessions": 6, "completed": 4, "failed": 1, "expired": 0,
         "cancelled": 1, "success_rate_bps": 6667, "median_seconds_to_pay": 38}]  # 4/6; (30 + 45) / 2
    last_hour = await api.admin(f"{ADMIN}/analytics/success-rates", window="1h")
    assert [(i["sessions"], i["completed"], i["success_rate_bps"], i["median_seconds_to_pay"])
            for i in last_hour["items"]] == [(3, 1, 3333, 20)]


async def test_subscriptions_and_providers(world):
    api, _, _ = world
    assert await api.admin(f"{ADMIN}/analytics/subscriptions") == {
        "active": {"basic": 4, "pro": 1, "vip": 1}, "past_due": 0, "mrr": 8800,
        "renewals_30d": {"succeeded": 0, "failed": 0}, "churned_30d": 0}
    assert await api.admin(f"{ADMIN}/providers") == {"items": [
        {"provider": "mock", "methods": ["wechat_pay", "alipay", "credit_card", "mock"], "circuit": "closed",
         "consecutive_failures": 0, "last_error_at": None, "success_rate_bps_1h": 3333}]}


async def test_user_lookup(world):
    api, _, ids = world
    body = await api.admin(f"{ADMIN}/users/alice")
    assert set(body) == {"user_id", "membership", "transactions", "refunds", "saved_methods", "risk_flags"}
    assert (body["user_id"], body["saved_methods"], body["risk_flags"]) == ("alice", [], [])
    assert body["membership"]["plan"] == "basic"
    assert body["membership"]["receives"] == {"balance": 8, "allowance_remaining": 3, "purchased_remaining": 5,
                                              "monthly_allowance": 3}
    [sale] = body["transactions"]
    assert (sale["id"], sale["status"], sale["total"], sale["refunded_amount"]) == (
        ids["alice"], "partially_refunded", 1700, 850)
    [refund] = body["refunds"]
    assert (refund["id"], refund["status"], refund["amount"], refund["receives"], refund["reviewed_by"],
            refund["user_id"]) == (ids["refund"], "succeeded", 850, 5, "ops", "alice")

    # Someone never seen: a new basic membership is shown, nothing is stored by looking.
    nobody = await api.admin(f"{ADMIN}/users/nobody")
    assert (nobody["membership"]["plan"], nobody["transactions"], nobody["refunds"]) == ("basic", [], [])
    assert (await api.admin(f"{ADMIN}/analytics/subscriptions"))["active"]["basic"] == 4


async def test_every_users_transactions_with_filters(world):
    api, _, ids = world
    everyone = await api.admin(f"{ADMIN}/transactions")
    assert [t["id"] for t in everyone["items"]] == [ids[n] for n in ("frank", "erin", "dave", "carol", "bob", "alice")]
    assert (everyone["total"], everyone["has_more"], everyone["page"], everyone["limit"]) == (6, False, 1, 20)
    cards = await api.admin(f"{ADMIN}/transactions", payment_method="credit_card")
    assert [t["id"] for t in cards["items"]] == [ids["dave"], ids["carol"]]
    upgrades = await api.admin(f"{ADMIN}/transactions", type="plan_upgrade", status="succeeded,cancelled")
    assert [t["id"] for t in upgrades["items"]] == [ids["dave"], ids["carol"]]
    cancelled = await api.admin(f"{ADMIN}/transactions", status="cancelled", provider="mock")
    assert [t["id"] for t in cancelled["items"]] == [ids["frank"]]
    page = await api.admin(f"{ADMIN}/transactions", user_id="alice", limit="1")
    assert ([t["id"] for t in page["items"]], page["total"]) == ([ids["alice"]], 1)
    window = await api.admin(f"{ADMIN}/transactions", date_from="2026-12-01T15:00:00Z",
                             date_to="2026-12-01T16:40:00Z")
    assert [t["id"] for t in window["items"]] == [ids["erin"], ids["dave"], ids["carol"]]
    paged = await api.admin(f"{ADMIN}/transactions", limit="4", page="2")
    assert ([t["id"] for t in paged["items"]], paged["has_more"]) == ([ids["bob"], ids["alice"]], False)


async def test_the_gauges_read_from_the_database(world):
    api, clock, _ = world
    clock.current = at(16, 52)  # erin's failed and frank's cancelled sessions ended in the last 15 minutes
    metrics = await (await api.client.get("/metrics")).text()
    assert re.search(r'^payments_provider_success_ratio\{provider="mock"\} 0\.0$', metrics, re.MULTILINE)
    assert re.search(r'^payments_provider_sessions_ended\{provider="mock"\} 2\.0$', metrics, re.MULTILINE)
    assert re.search(r"^payments_refunds_failed 0\.0$", metrics, re.MULTILINE)
    assert re.search(r'^payments_provider_circuit_open\{provider="mock"\} 0\.0$', metrics, re.MULTILINE)
    assert re.search(r'^payments_sessions_total\{outcome="completed",payment_method="credit_card",provider="mock"\} 2\.0$',
                     metrics, re.MULTILINE)


ENDPOINTS = ["/users/alice", "/transactions", "/analytics/revenue", "/analytics/success-rates",
             "/analytics/subscriptions", "/providers"]


@pytest.mark.parametrize("path", ENDPOINTS)
async def test_only_admins_read_them(world, path):
    api, _, _ = world
    response = await api.get(f"{ADMIN}{path}", user=None)
    assert response.status == 401
    response = await api.get(f"{ADMIN}{path}", user="alice")
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
    response = await api.get(f"{ADMIN}{path}", user="svc", role="service")
    assert response.status == 403


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/analytics/revenue", {"tz": "Mars/Olympus_Mons"}, "tz"),
    ("/analytics/revenue", {"tz": "../../etc/passwd"}, "tz"),
    ("/analytics/revenue", {"interval": "year"}, "interval"),
    ("/analytics/revenue", {"group_by": "user"}, "group_by"),
    ("/analytics/revenue", {"date_from": "2026-13-01"}, "date_from"),
    ("/analytics/revenue", {"currency": "USD"}, "currency"),
    ("/analytics/success-rates", {"window": "2h"}, "window"),
    ("/analytics/success-rates", {"group_by": "plan"}, "group_by"),
    ("/analytics/subscriptions", {"plan": "pro"}, "plan"),
    ("/providers", {"x": "1"}, "x"),
    ("/transactions", {"payment_method": "cash"}, "payment_method"),
    ("/transactions", {"limit": "101"}, "limit"),
    ("/transactions", {"starting_after": "txn_1"}, "starting_after"),
])
async def test_bad_parameters_are_refused(world, path, params, field):
    api, _, _ = world
    response = await api.get(f"{ADMIN}{path}", user="ops", role="admin", params=params)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "validation_error", error
    assert any(key == field or key.startswith(f"{field}[") for key in error["details"]), error



@pytest.mark.parametrize("path", [
    "/transactions?page=0&nonsense=1", "/analytics/revenue?interval=fortnight", "/refunds?sort=sideways",
    "/events?status=lost", "/risk/flags?resolved=maybe"])
async def test_a_non_admin_is_refused_before_the_query_is_read(world, path):
    api, _, _ = world
    response = await api.get(f"{ADMIN}{path}", user="alice")
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"


async def test_a_non_admin_post_is_refused_before_its_body_is_read(world):
    api, _, _ = world
    response = await api.post(f"{ADMIN}/refunds", json={"nonsense": True}, user="alice",
                              headers={"Idempotency-Key": "k-admin-role-1"})
    assert response.status == 403
    assert (await response.json())["error"]["code"] == "forbidden"
