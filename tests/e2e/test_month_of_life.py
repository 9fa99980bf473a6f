"""A month (and a half) of one user's life through HTTP against a real `payments serve`, moved along
by the test clock (docs/test-clock.md, docs/renewals.md): buy receives, upgrade to Pro saving the
card, consume, turn auto-renewal on and get renewed at the period end with the saved card; then a
card that declines: past_due with grace at the next period end, retried a day later, and basic once
the grace is over (the renewal failed). Every step is checked through the API: the membership's
state and the transactions, as a frontend would read them."""
from __future__ import annotations

from datetime import datetime, timedelta

import aiohttp

from clock_support import CLOCK, advance_clock
from live import eventually, pay_through_page, serve_process

RECEIVES = "/api/v1/payments/receives"
PLAN = "/api/v1/payments/plan"
MEMBERSHIP = "/api/v1/payments/membership"
TRANSACTIONS = "/api/v1/payments/transactions"
SUBSCRIPTION = "/api/v1/payments/subscription"
SAVED = "/api/v1/payments/saved-methods"
CONSUME = "/api/v1/internal/receives/consume"
DAY = timedelta(days=1)
USER = "month-of-life"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def now(service) -> datetime:
    return at((await service.get(CLOCK, user=USER))["now"])


async def move_to(service, moment: datetime) -> None:
    await advance_clock(service, int((moment - await now(service)).total_seconds()) + 1)


async def membership(service) -> dict:
    return await service.get(MEMBERSHIP, user=USER)


async def transactions(service, type: str) -> list[dict]:
    return (await service.get(f"{TRANSACTIONS}?type={type}", user=USER))["items"]


async def renewals(service) -> list[dict]:
    return await transactions(service, "plan_renewal")


async def saved_methods(service) -> list[dict]:
    return (await service.get(SAVED, user=USER))["items"]


async def test_buy_upgrade_consume_renew_decline_grace_lapse(tmp_path):
    async with aiohttp.ClientSession() as http, aiohttp.ClientSession() as browser, \
            serve_process(http, tmp_path) as service:
        # Day 0: 10 receives bought and paid on the mock's page.
        bought = await service.post(RECEIVES, {"amount": 10, "payment_method": "mock"}, user=USER, expect=201)
        await pay_through_page(browser, bought["session"]["payment_url"])
        await eventually(lambda: membership(service), lambda m: m["receives"]["purchased_remaining"] == 10,
                         what="the purchase credited")

        # Upgrade to Pro by card, keeping the card (it pays every off-session charge).
        upgrade = await service.post(PLAN, {"new_plan": "pro", "payment_method": "credit_card", "save_method": True},
                                     user=USER, expect=201)
        await pay_through_page(browser, upgrade["session"]["payment_url"], card="ok")
        pro = await eventually(lambda: membership(service), lambda m: m["plan"] == "pro", what="Pro")
        [card] = await eventually(lambda: saved_methods(service), lambda items: len(items) == 1,
                                  what="the card saved")
        assert (pro["status"], pro["auto_renew"], pro["receives"]["allowance_remaining"]) == ("active", False, 20)

        # Consume 5: the allowance first.
        async with http.post(service.url(CONSUME), json={"user_id": USER, "count": 5, "reference": "match-1"},
                             headers={"Authorization": f"Bearer {service.token('backend', 'service')}"}) as response:
            consumed = await response.json()
            assert response.status == 200, consumed
        assert (consumed["receives"]["allowance_remaining"], consumed["receives"]["purchased_remaining"]) == (15, 10)

        # Auto-renewal on: the saved card (the default) renews it.
        on = await service.post(SUBSCRIPTION, {"auto_renew": True}, user=USER)
        assert (on["auto_renew"], on["renewal_method_id"], on["next_renewal_at"]) == \
            (True, card["id"], pro["current_period_end"])
        first_end = at(pro["current_period_end"])

        # The period end: renewed off-session with the card; the new period starts at the old end.
        await move_to(service, first_end + timedelta(minutes=1))
        [renewal] = await eventually(lambda: renewals(service),
                                     lambda items: len(items) == 1 and items[0]["status"] == "succeeded",
                                     what="the renewal paid")
        renewed = await membership(service)
        assert (renewal["total"], renewal["plan_to"], renewal["payment_method"]) == (2900, "pro", "credit_card")
        assert (renewed["plan"], renewed["status"], renewed["current_period_start"], renewed["grace_until"]) == \
            ("pro", "active", pro["current_period_end"], None)
        assert (renewed["receives"]["allowance_remaining"], renewed["receives"]["purchased_remaining"]) == (20, 10)
        second_end = at(renewed["current_period_end"])

        # A second card, one that declines, becomes the renewal method.
        one = await service.post(RECEIVES, {"amount": 1, "payment_method": "credit_card", "save_method": True},
                                 user=USER, expect=201)
        await pay_through_page(browser, one["session"]["payment_url"], card="declines")
        methods = await eventually(lambda: saved_methods(service), lambda items: len(items) == 2,
                                   what="the second card saved")
        declining = next(m for m in methods if m["id"] != card["id"])
        switched = await service.post(SUBSCRIPTION, {"auto_renew": True, "saved_method_id": declining["id"]},
                                      user=USER)
        assert switched["renewal_method_id"] == declining["id"]

        # The next period end: declined → past_due, the plan and what is left of the allowance kept.
        await move_to(service, second_end + timedelta(minutes=1))
        due = await eventually(lambda: membership(service), lambda m: m["status"] == "past_due", what="past_due")
        assert (due["plan"], at(due["grace_until"]), due["receives"]["allowance_remaining"]) == \
            ("pro", second_end + 7 * DAY, 20)
        pending = await eventually(lambda: renewals(service),
                                   lambda items: len(items) == 2 and items[0]["failure_reason"] == "card_declined",
                                   what="the declined renewal")
        assert (pending[0]["status"], pending[1]["status"]) == ("pending", "succeeded")

        # Retried on day 1 after the end: declined again, still past_due.
        await move_to(service, second_end + DAY + timedelta(minutes=1))

        async def attempts() -> int:
            detail = await service.get(f"{TRANSACTIONS}/{pending[0]['id']}", user=USER)
            return sum(1 for s in detail["sessions"] if s["status"] == "failed")
        await eventually(attempts, lambda n: n == 2, what="the retry on day 1")
        assert (await membership(service))["status"] == "past_due"

        # Grace over: basic from grace_until, the renewal failed.
        await move_to(service, second_end + 7 * DAY + timedelta(minutes=1))
        lapsed = await eventually(lambda: membership(service), lambda m: m["plan"] == "basic", what="basic")
        assert (lapsed["status"], lapsed["auto_renew"], lapsed["grace_until"], lapsed["current_period_start"]) == \
            ("active", False, None, (second_end + 7 * DAY).strftime("%Y-%m-%dT%H:%M:%SZ"))
        assert (lapsed["receives"]["allowance_remaining"], lapsed["receives"]["purchased_remaining"]) == (3, 11)
        failed = await eventually(lambda: renewals(service), lambda items: items[0]["status"] == "failed",
                                  what="the renewal failed")
        assert failed[0]["failure_reason"] == "renewal_unpaid"
        history = (await service.get(TRANSACTIONS, user=USER))["items"]
        assert [(t["type"], t["status"]) for t in history] == [
            ("plan_renewal", "failed"), ("purchase_receives", "succeeded"), ("plan_renewal", "succeeded"),
            ("plan_upgrade", "succeeded"), ("purchase_receives", "succeeded")]
