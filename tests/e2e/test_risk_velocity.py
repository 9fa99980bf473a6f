"""Velocity rules and blocks through HTTP (docs/risk.md): the daily paid amount, more than 10 failed
or expired attempts in an hour, a user blocked by an admin; 403 `risk_declined` before anything is
opened, a flag for the admin (one open flag per user and rule), and the admin endpoints: list with
filters, resolve (audited), block and unblock (audited), admin role only."""
from __future__ import annotations

import pytest

from e2e_support import buy, error_of, ok, pay, transaction_count

pytestmark = pytest.mark.asyncio

FLAGS = "/api/v1/admin/risk/flags"
SESSIONS = "/api/v1/payments/sessions"
PLAN = "/api/v1/payments/plan"
RECEIVES = "/api/v1/payments/receives"


def users(path: str) -> str:
    return f"/api/v1/admin/users/{path}"


async def flags(api, **params) -> dict:
    return await ok(await api.get(FLAGS, user="boss", role="admin", params=params))


async def test_a_payment_over_the_daily_amount_is_declined_and_flags_the_user(make_api):
    api = await make_api(PAYMENTS_RISK_DAILY_LIMIT="5000")
    for _ in range(2):  # 2 × 1700 fen paid: 3400
        await pay(api, (await buy(api, 10, user="spender"))["session"])
    before = await transaction_count(api, "spender")

    error = await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, user="spender"),
                           403, "risk_declined")
    assert error["details"] == {} and "5000" not in error["message"]  # the threshold is not told
    assert await transaction_count(api, "spender") == before  # nothing opened
    assert (await buy(api, 1, user="spender"))["transaction"]["total"] <= 1600  # what still fits goes through

    page = await flags(api, user_id="spender")
    assert page["total"] == 1
    flag = page["items"][0]
    assert flag["rule"] == "daily_amount" and flag["user_id"] == "spender"
    assert flag["details"] == {"paid_last_24h": 3400, "amount": 1700, "limit": 5000}
    assert flag["resolved_at"] is None and flag["resolved_by"] is None

    # The rule firing again while the flag is open adds no second flag.
    await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, user="spender"),
                   403, "risk_declined")
    assert (await flags(api, user_id="spender"))["total"] == 1


async def test_more_than_ten_failed_attempts_in_an_hour_are_declined(api):
    bought = await buy(api, 10, user="tryer")
    transaction_id, session = bought["transaction"]["id"], bought["session"]
    for attempt in range(11):
        await pay(api, session, succeeded=False)
        if attempt < 10:
            session = await ok(await api.post(SESSIONS, {"transaction_id": transaction_id}, user="tryer"), 201)
    # 11 failed attempts now: opening another is refused, and so is a new purchase.
    await error_of(await api.post(SESSIONS, {"transaction_id": transaction_id}, user="tryer"), 403, "risk_declined")
    await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "alipay"}, user="tryer"),
                   403, "risk_declined")
    page = await flags(api, rule="failed_attempts")
    assert [(f["user_id"], f["details"]) for f in page["items"]] == [("tryer", {"failed_last_hour": 11, "limit": 10})]
    assert (await flags(api, user_id="someone-else"))["total"] == 0


async def test_a_blocked_user_gets_403_on_every_new_payment_until_unblocked(api):
    pending = await buy(api, 10, user="mallory")
    blocked = await ok(await api.post(users("mallory/block"), {"reason": "chargebacks"}, user="boss", role="admin"))
    assert blocked == {"user_id": "mallory", "blocked": True}

    for path, body in ((RECEIVES, {"amount": 1, "payment_method": "wechat_pay"}),
                       (SESSIONS, {"transaction_id": pending["transaction"]["id"]}),
                       (PLAN, {"new_plan": "vip", "payment_method": "alipay"})):
        await error_of(await api.post(path, body, user="mallory"), 403, "risk_declined")
    assert (await api.get("/api/v1/payments/membership", user="mallory")).status == 200  # reads still work
    assert (await flags(api, user_id="mallory"))["total"] == 0  # a block is not a rule firing

    unblocked = await ok(await api.post(users("mallory/unblock"), user="boss", role="admin"))
    assert unblocked == {"user_id": "mallory", "blocked": False}
    await buy(api, 1, user="mallory")

    audit = await ok(await api.get("/api/v1/admin/audit-log", user="boss", role="admin",
                                   params={"object_id": "mallory"}))
    assert [(e["action"], e["actor"]) for e in audit["items"]] == [("user.unblocked", "boss"),
                                                                   ("user.blocked", "boss")]
    assert audit["items"][1]["details"]["reason"] == "chargebacks"


async def test_resolving_a_flag_records_who_and_why(make_api):
    api = await make_api(PAYMENTS_RISK_DAILY_LIMIT="1000")
    await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, user="big"),
                   403, "risk_declined")
    flag = (await flags(api, resolved="false"))["items"][0]

    resolved = await ok(await api.post(f"{FLAGS}/{flag['id']}/resolve", {"note": "a known customer"},
                                       user="boss", role="admin"))
    assert resolved["id"] == flag["id"] and resolved["resolved_by"] == "boss" and resolved["resolved_at"]
    assert resolved["note"] == "a known customer"
    assert (await flags(api, resolved="false"))["total"] == 0
    assert [f["id"] for f in (await flags(api, resolved="true"))["items"]] == [flag["id"]]
    again = await ok(await api.post(f"{FLAGS}/{flag['id']}/resolve", {"note": "twice"}, user="other", role="admin"))
    assert again["resolved_by"] == "boss" and again["note"] == "a known customer"  # resolved once

    # Resolved, the rule may flag the user again.
    await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, user="big"),
                   403, "risk_declined")
    assert (await flags(api, user_id="big"))["total"] == 2

    audit = await ok(await api.get("/api/v1/admin/audit-log", user="boss", role="admin",
                                   params={"object_id": flag["id"]}))
    assert [(e["action"], e["details"]) for e in audit["items"]] == [("risk_flag.resolved",
                                                                      {"note": "a known customer"})]


async def test_the_admin_endpoints_need_the_admin_role_and_valid_input(api):
    for role in (None, "service"):
        await error_of(await api.get(FLAGS, user="u1", role=role), 403, "forbidden")
        await error_of(await api.post(users("u2/block"), {"reason": "x"}, user="u1", role=role), 403, "forbidden")
    await error_of(await api.post(f"{FLAGS}/rk_missing/resolve", {"note": "x"}, user="boss", role="admin"),
                   404, "not_found")
    for params in ({"rule": "nonsense"}, {"resolved": "yes"}, {"limit": "0"}, {"page": "0"}, {"other": "1"}):
        await error_of(await api.get(FLAGS, user="boss", role="admin", params=params), 422, "validation_error")
    await error_of(await api.post(users("u2/block"), {"reason": 5}, user="boss", role="admin"),
                   422, "validation_error")
    await error_of(await api.post(users("u2/block"), {"why": "x"}, user="boss", role="admin"),
                   422, "validation_error")
    page = await flags(api)
    assert page == {"items": [], "page": 1, "limit": 20, "total": 0, "has_more": False}


async def test_the_admin_user_overview_shows_the_users_flags(make_api):
    api = await make_api(PAYMENTS_RISK_DAILY_LIMIT="1000")
    await error_of(await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, user="big"),
                   403, "risk_declined")
    [flag] = (await flags(api, user_id="big"))["items"]
    overview = await ok(await api.get(users("big"), user="boss", role="admin"))
    assert overview["risk_flags"] == [flag]
    assert (await ok(await api.get(users("small"), user="boss", role="admin")))["risk_flags"] == []
