"""GET /api/v1/payments/membership and GET /api/v1/payments/pricing."""
from datetime import datetime, timedelta, timezone

from adapters.clock import FixedClock
from e2e_support import MEMBERSHIP, PRICING, assert_membership, buy, consume, error_of, membership, ok, pay


async def test_a_user_with_no_record_is_on_basic_with_three_receives(fixed_api):
    body = assert_membership(await ok(await fixed_api.get(MEMBERSHIP)))

    assert body == {
        "plan": "basic", "status": "active",
        "current_period_start": "2026-03-01T00:00:00Z", "current_period_end": "2026-04-01T00:00:00Z",
        "scheduled_change": None,
        "receives": {"balance": 3, "allowance_remaining": 3, "purchased_remaining": 0, "monthly_allowance": 3},
        "auto_renew": False, "renewal_method_id": None, "next_renewal_at": None, "grace_until": None}


async def test_a_basic_period_anchored_on_the_31st_ends_on_the_last_day_of_a_short_month(make_api):
    api = await make_api(clock=FixedClock(datetime(2026, 1, 31, 9, 30, tzinfo=timezone.utc)))

    body = await membership(api)

    assert (body["current_period_start"], body["current_period_end"]) == ("2026-01-31T09:30:00Z",
                                                                          "2026-02-28T09:30:00Z")


async def test_the_membership_is_created_once_and_keeps_its_period(fixed_api, clock):
    first = await membership(fixed_api)
    clock.advance(timedelta(days=3))

    assert await membership(fixed_api) == first


async def test_the_monthly_allowance_resets_at_the_period_start_and_purchases_stay(fixed_api, clock):
    bought = await buy(fixed_api, 5)
    await pay(fixed_api, bought["session"])
    await ok(await consume(fixed_api, "u1", 4, "match-1"))  # 3 from the allowance, then 1 purchased
    assert (await membership(fixed_api))["receives"] == {"balance": 4, "allowance_remaining": 0,
                                                         "purchased_remaining": 4, "monthly_allowance": 3}

    clock.advance(timedelta(days=31))

    renewed = await membership(fixed_api)
    assert renewed["current_period_start"] == "2026-04-01T00:00:00Z"
    assert renewed["receives"] == {"balance": 7, "allowance_remaining": 3, "purchased_remaining": 4,
                                   "monthly_allowance": 3}


async def test_each_user_has_their_own_membership(api):
    bought = await buy(api, 10, user="u2")
    await pay(api, bought["session"])

    assert (await membership(api, "u1"))["receives"]["balance"] == 3
    assert (await membership(api, "u2"))["receives"]["balance"] == 13


async def test_the_pricing_is_the_configured_catalog(api):
    body = await ok(await api.get(PRICING))

    assert body == {
        "currency": "CNY",
        "receives": {"unit_price": 200, "min_amount": 1, "max_amount": 100,
                     "tiers": [{"min_amount": 5, "discount_percent": 10},
                               {"min_amount": 10, "discount_percent": 15},
                               {"min_amount": 20, "discount_percent": 20}]},
        "plans": [{"id": "basic", "name": "Basic", "price": 0, "interval": "month", "monthly_receives": 3},
                  {"id": "pro", "name": "Pro", "price": 2900, "interval": "month", "monthly_receives": 20},
                  {"id": "vip", "name": "VIP", "price": 5900, "interval": "month", "monthly_receives": 100}]}


async def test_membership_and_pricing_need_a_token(api):
    await error_of(await api.get(MEMBERSHIP, user=None), 401, "unauthorized")
    await error_of(await api.get(PRICING, user=None), 401, "unauthorized")


async def test_membership_and_pricing_refuse_other_methods(api):
    await error_of(await api.post(MEMBERSHIP, {}), 405, "method_not_allowed")
    await error_of(await api.post(PRICING, {}), 405, "method_not_allowed")
