"""POST /api/v1/payments/plan: upgrades, downgrades and re-choosing the current plan."""
from datetime import timedelta

import pytest

from e2e_support import (
    PLAN,
    assert_membership,
    assert_session,
    assert_transaction,
    buy,
    change_plan,
    consume,
    error_of,
    membership,
    ok,
    pay,
    session,
    transaction,
    transaction_count,
)


async def become_pro(api) -> dict:
    """Upgrade u1 to pro and pay it; returns the membership after."""
    status, started = await change_plan(api, "pro", "alipay")
    assert status == 201, started
    await pay(api, started["session"])
    return await membership(api)


async def test_an_upgrade_from_basic_answers_201_with_the_full_price_and_no_period_end(fixed_api):
    status, body = await change_plan(fixed_api, "pro", "alipay")

    assert status == 201, body
    assert set(body) == {"transaction", "session", "proration"}
    t, s = assert_transaction(body["transaction"]), assert_session(body["session"])
    assert body["proration"] == {"credit": 0, "debit": 2900, "charge": 2900, "period_end": None}
    assert (t["type"], t["status"], t["plan_from"], t["plan_to"]) == ("plan_upgrade", "pending", "basic", "pro")
    assert (t["subtotal"], t["discount"], t["total"], t["receives"]) == (2900, 0, 2900, None)
    assert (t["payment_method"], t["provider"]) == ("alipay", "mock")
    assert (s["transaction_id"], s["status"], s["amount"], s["payment_method"]) == (t["id"], "open", 2900, "alipay")


async def test_an_unpaid_upgrade_does_not_change_the_plan(fixed_api):
    await change_plan(fixed_api, "pro", "alipay")

    current = await membership(fixed_api)

    assert (current["plan"], current["receives"]["monthly_allowance"]) == ("basic", 3)


async def test_paying_an_upgrade_moves_to_the_plan_with_a_new_period_from_the_payment(fixed_api, clock):
    status, started = await change_plan(fixed_api, "pro", "wechat_pay")
    assert status == 201, started
    paid_at = clock.advance(timedelta(minutes=10))

    await pay(fixed_api, started["session"])

    current = await membership(fixed_api)
    assert current["plan"] == "pro"
    assert current["current_period_start"] == "2026-03-01T00:10:00Z"
    assert current["current_period_end"] == "2026-04-01T00:10:00Z"
    assert current["receives"] == {"balance": 20, "allowance_remaining": 20, "purchased_remaining": 0,
                                   "monthly_allowance": 20}
    detail = await transaction(fixed_api, started["transaction"]["id"])
    assert detail["transaction"]["status"] == "succeeded"
    assert detail["transaction"]["completed_at"] == paid_at.strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_downgrade_answers_200_with_no_session_and_takes_effect_at_the_period_end(fixed_api):
    pro = await become_pro(fixed_api)

    status, body = await change_plan(fixed_api, "basic", None)

    assert status == 200, body
    assert set(body) == {"transaction", "session", "effective_at"}
    assert body["session"] is None
    assert body["effective_at"] == pro["current_period_end"]
    t = assert_transaction(body["transaction"])
    assert (t["type"], t["status"], t["plan_from"], t["plan_to"]) == ("plan_downgrade", "succeeded", "pro", "basic")
    assert (t["subtotal"], t["total"], t["refunded_amount"]) == (0, 0, 0)
    after = await membership(fixed_api)
    assert after["plan"] == "pro"  # until the period ends
    assert after["scheduled_change"] == {"plan": "basic", "effective_at": pro["current_period_end"]}


async def test_the_scheduled_downgrade_applies_when_the_period_ends(fixed_api, clock):
    pro = await become_pro(fixed_api)
    await change_plan(fixed_api, "basic", None)

    clock.advance(timedelta(days=31, seconds=1))

    after = await membership(fixed_api)
    assert (after["plan"], after["scheduled_change"]) == ("basic", None)
    assert after["current_period_start"] == pro["current_period_end"]
    assert after["receives"]["monthly_allowance"] == 3


async def test_re_choosing_the_current_plan_cancels_the_scheduled_change(fixed_api):
    await become_pro(fixed_api)
    await change_plan(fixed_api, "basic", None)

    status, body = await change_plan(fixed_api, "pro", None)

    assert status == 200, body
    assert set(body) == {"membership"}
    assert_membership(body["membership"])
    assert (body["membership"]["plan"], body["membership"]["scheduled_change"]) == ("pro", None)
    assert (await membership(fixed_api))["scheduled_change"] is None


async def test_re_choosing_the_current_plan_with_nothing_scheduled_is_plan_unchanged(fixed_api):
    await become_pro(fixed_api)
    await change_plan(fixed_api, "basic", None)
    await change_plan(fixed_api, "pro", None)

    response = await fixed_api.post(PLAN, {"new_plan": "pro"})

    await error_of(response, 409, "plan_unchanged")


async def test_choosing_basic_while_on_basic_is_plan_unchanged_and_creates_nothing(api):
    response = await api.post(PLAN, {"new_plan": "basic"})

    await error_of(response, 409, "plan_unchanged")
    assert await transaction_count(api) == 0


async def test_an_upgrade_between_paid_plans_is_prorated_on_the_remaining_period(fixed_api, clock):
    pro = await become_pro(fixed_api)  # 2026-03-01 00:00 → 2026-04-01 00:00 (31 days)
    await ok(await consume(fixed_api, "u1", 2, "match-1"))
    clock.advance(timedelta(days=15, hours=12))  # exactly half the period remains

    status, body = await change_plan(fixed_api, "vip", "credit_card")

    assert status == 201, body
    assert body["proration"] == {"credit": 1450, "debit": 2950, "charge": 1500, "period_end": pro["current_period_end"]}
    assert (body["transaction"]["total"], body["session"]["amount"]) == (1500, 1500)
    assert (body["transaction"]["plan_from"], body["transaction"]["plan_to"]) == ("pro", "vip")

    await pay(fixed_api, body["session"])
    vip = await membership(fixed_api)
    assert vip["plan"] == "vip"
    assert vip["current_period_end"] == pro["current_period_end"]  # the period end does not move
    assert vip["receives"]["monthly_allowance"] == 100
    assert vip["receives"]["allowance_remaining"] == 98  # the new allowance, less what was used


async def test_a_new_plan_change_cancels_the_earlier_pending_one_and_its_session(fixed_api):
    _, first = await change_plan(fixed_api, "pro", "alipay")

    status, second = await change_plan(fixed_api, "vip", "alipay")

    assert status == 201, second
    earlier = await transaction(fixed_api, first["transaction"]["id"])
    assert earlier["transaction"]["status"] == "cancelled"
    assert earlier["transaction"]["cancel_reason"]
    assert (await session(fixed_api, first["session"]["id"]))["status"] == "cancelled"
    listed = await ok(await fixed_api.get("/api/v1/payments/transactions", params={"status": "pending"}))
    assert [t["id"] for t in listed["items"]] == [second["transaction"]["id"]]


async def test_a_downgrade_also_cancels_a_pending_upgrade(fixed_api):
    await become_pro(fixed_api)
    _, upgrade = await change_plan(fixed_api, "vip", "alipay")

    status, _ = await change_plan(fixed_api, "basic", None)

    assert status == 200
    assert (await transaction(fixed_api, upgrade["transaction"]["id"]))["transaction"]["status"] == "cancelled"


async def test_pending_plan_changes_count_toward_the_pending_limit(make_api):
    api = await make_api(PAYMENTS_MAX_PENDING="2")
    await buy(api, 1)
    status, _ = await change_plan(api, "pro", "alipay")
    assert status == 201

    await error_of(await api.post("/api/v1/payments/receives", {"amount": 1, "payment_method": "mock"}),
                   409, "too_many_pending")
    await buy(api, 1, user="u2")
    await buy(api, 1, user="u2")
    await error_of(await api.post(PLAN, {"new_plan": "pro", "payment_method": "alipay"}, user="u2"),
                   409, "too_many_pending")


async def test_an_upgrade_without_a_payment_method_is_a_validation_error(api):
    response = await api.post(PLAN, {"new_plan": "vip"})

    error = await error_of(response, 422, "validation_error")
    assert "payment_method" in error["details"]
    assert await transaction_count(api) == 0


@pytest.mark.parametrize(("body", "field"), [
    ({"new_plan": "gold", "payment_method": "alipay"}, "new_plan"),
    ({"new_plan": "PRO", "payment_method": "alipay"}, "new_plan"),
    ({"new_plan": 2, "payment_method": "alipay"}, "new_plan"),
    ({"payment_method": "alipay"}, "new_plan"),
    ({"new_plan": "pro", "payment_method": "bitcoin"}, "payment_method"),
    ({"new_plan": "pro", "payment_method": "alipay", "price": 0}, "price"),
    ({"new_plan": "pro", "payment_method": "alipay", "return_url": "https://evil.example/"}, "return_url"),
])
async def test_a_wrong_plan_change_is_refused_and_creates_nothing(api, body, field):
    response = await api.post(PLAN, body)

    error = await error_of(response, 422, "validation_error")
    assert field in error["details"], error
    assert await transaction_count(api) == 0


async def test_an_upgrade_with_a_method_no_provider_serves_is_payment_method_unavailable(make_api):
    api = await make_api(PAYMENTS_METHOD_ROUTES="mock=mock")

    response = await api.post(PLAN, {"new_plan": "pro", "payment_method": "alipay"})

    await error_of(response, 422, "payment_method_unavailable")
    assert await transaction_count(api) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[\"pro\"]"])
async def test_a_plan_body_that_is_not_a_json_object_is_malformed_json(api, raw):
    response = await api.post(PLAN, data=raw, headers={"Content-Type": "application/json"})

    await error_of(response, 400, "malformed_json")
