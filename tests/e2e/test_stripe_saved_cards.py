"""Saved cards through the Stripe plugin, end to end: `payments serve` with `credit_card`,
`wechat_pay` and `alipay` routed to the plugin and the fake Stripe over real HTTP (the world of
test_stripe_end_to_end.py).

- **Save a card, then a one-click purchase**: a purchase asking to save (`"save_method": true`)
  opens its Checkout Session for the user's Stripe customer (made once) with
  `setup_future_usage=off_session`; the payer pays with Stripe's test card `pm_card_visa`;
  `checkout.session.completed` credits it and the card is listed (`Visa •••• 4242`, the default).
  A purchase with `"saved_method_id"` is then charged off-session at once (a PaymentIntent with
  `off_session=true&confirm=true` and our order id as `Idempotency-Key`): 201 with no session, the
  transaction succeeded and credited; Stripe's `payment_intent.succeeded` for it changes nothing more.
- **A charge that needs authentication** (`pm_card_authenticationRequired`): Stripe answers 402
  `authentication_required`; the purchase answers a Checkout Session for the payer instead, the
  transaction pending; `payment_intent.payment_failed` fails nothing; the payer pays that session
  and is credited once.
- A declined card (Stripe's `…0341`) fails the one-click purchase with its decline code; deleting a
  saved card detaches it at Stripe; WeChat Pay and Alipay through Stripe list `can_save: false`
  and saving one is 422.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

from live import eventually
from test_stripe_end_to_end import RECEIVES, world  # noqa: F401 (the service process and its fake Stripe)

SAVED = "/api/v1/payments/saved-methods"
METHODS = "/api/v1/payments/methods"


def posts(world, path: str) -> list[tuple[str | None, dict[str, str]]]:  # noqa: F811
    """Every POST to `path` the fake Stripe saw: (Idempotency-Key, form)."""
    return [(q.headers.get("Idempotency-Key"), dict(parse_qsl(q.content.decode())))
            for q in world.stripe.requests if q.method == "POST" and q.url.path == path]


async def saved_methods(world) -> list[dict]:  # noqa: F811
    return (await world.service.get(SAVED))["items"]


async def save_a_card(world, card: str, receives: int = 10) -> dict:  # noqa: F811
    """A purchase that saves its card, paid at Stripe with the test `card`; the saved method."""
    known = {m["id"] for m in await saved_methods(world)}
    bought = await world.service.post(RECEIVES, {"amount": receives, "payment_method": "credit_card",
                                                 "save_method": True}, expect=201)
    assert await world.stripe.deliver(world.stripe.pay(bought["session"]["order_id"], card=card)) == 200
    found = await eventually(lambda: saved_methods(world), lambda ms: any(m["id"] not in known for m in ms),
                             what="the saved card to be listed")
    (card_saved,) = [m for m in found if m["id"] not in known]
    return card_saved


async def test_a_saved_card_then_a_one_click_purchase_charged_off_session_and_credited(world):  # noqa: F811
    bought = await world.service.post(RECEIVES, {"amount": 10, "payment_method": "credit_card",
                                                 "save_method": True}, expect=201)
    at_stripe = world.stripe.session_of(bought["session"]["order_id"])
    (customer,) = world.stripe.customers
    assert at_stripe["customer"] == customer and world.stripe.customers[customer]["metadata"] == {"user_id": "u1"}
    assert dict(posts(world, "/v1/checkout/sessions"))[bought["session"]["order_id"]][
        "payment_intent_data[setup_future_usage]"] == "off_session"

    assert await world.stripe.deliver(world.stripe.pay(bought["session"]["order_id"], card="pm_card_visa")) == 200
    assert await world.purchased() == 10
    (saved,) = await eventually(lambda: saved_methods(world), lambda ms: len(ms) == 1, what="the saved card")
    assert {k: saved[k] for k in ("payment_method", "provider", "label", "brand", "last4", "exp_month", "exp_year",
                                  "is_default")} == {
        "payment_method": "credit_card", "provider": "stripe", "label": "Visa •••• 4242", "brand": "visa",
        "last4": "4242", "exp_month": 12, "exp_year": 2034, "is_default": True}
    assert saved["id"].startswith("spm_")

    one_click = await world.service.post(RECEIVES, {"amount": 5, "saved_method_id": saved["id"]}, expect=201)

    assert one_click["session"] is None and one_click["transaction"]["status"] == "succeeded"
    assert await world.purchased() == 15
    ((key, form),) = posts(world, "/v1/payment_intents")
    (intent,) = [i for i in world.stripe.intents.values() if i["metadata"] == {"order_id": key}]
    assert (form["off_session"], form["confirm"], form["customer"], form["currency"], form["amount"]) == \
        ("true", "true", customer, "cny", str(one_click["transaction"]["total"]))
    assert intent["status"] == "succeeded" and form["payment_method"] == intent["payment_method"]
    succeeded = [e for e in world.stripe.events if e["type"] == "payment_intent.succeeded"
                 and e["data"]["object"]["id"] == intent["id"]]
    assert [await world.stripe.deliver(e) for e in succeeded] == [200]  # Stripe's event: acknowledged, applied once
    assert await world.purchased() == 15
    assert len(world.stripe.customers) == 1  # one customer per user, asked once


async def test_a_charge_that_needs_authentication_answers_a_session_for_the_payer(world):  # noqa: F811
    saved = await save_a_card(world, "pm_card_authenticationRequired")
    assert await world.purchased() == 10

    one_click = await world.service.post(RECEIVES, {"amount": 5, "saved_method_id": saved["id"]}, expect=201)

    session = one_click["session"]
    assert session is not None and one_click["transaction"]["status"] == "pending"
    at_stripe = world.stripe.session_of(session["order_id"])
    assert (session["provider"], session["payment_url"], at_stripe["payment_method_types"]) == \
        ("stripe", at_stripe["url"], ["card"])
    (declined,) = [i for i in world.stripe.intents.values() if i["last_payment_error"]]
    assert declined["last_payment_error"]["code"] == "authentication_required"
    failed = [e for e in world.stripe.events if e["type"] == "payment_intent.payment_failed"
              and e["data"]["object"]["id"] == declined["id"]]
    assert [await world.stripe.deliver(e) for e in failed] == [200]  # acknowledged; fails nothing
    detail = await world.service.get(f"/api/v1/payments/transactions/{one_click['transaction']['id']}")
    assert detail["transaction"]["status"] == "pending"

    assert await world.stripe.deliver(world.stripe.pay(session["order_id"], card="pm_card_visa")) == 200
    assert await world.purchased() == 15
    assert (await world.session(session["id"]))["status"] == "completed"
    detail = await world.service.get(f"/api/v1/payments/transactions/{one_click['transaction']['id']}")
    assert detail["transaction"]["status"] == "succeeded"


async def test_a_declined_card_fails_the_one_click_purchase_with_its_decline_code(world):  # noqa: F811
    saved = await save_a_card(world, "pm_card_chargeCustomerFail")  # Stripe's …0341

    one_click = await world.service.post(RECEIVES, {"amount": 5, "saved_method_id": saved["id"]}, expect=201)

    assert one_click["session"] is None
    assert (one_click["transaction"]["status"], one_click["transaction"]["failure_reason"]) == \
        ("failed", "generic_decline")
    assert await world.purchased() == 10


async def test_deleting_a_saved_card_detaches_it_at_stripe(world):  # noqa: F811
    saved = await save_a_card(world, "pm_card_visa")
    (token,) = [pm for pm, m in world.stripe.payment_methods.items() if m["customer"]]

    async with world.http.delete(world.service.url(f"{SAVED}/{saved['id']}"),
                                 headers={"Authorization": f"Bearer {world.service.token('u1')}"}) as response:
        assert response.status == 204

    assert world.stripe.payment_methods[token]["customer"] is None
    assert [k for k, _ in posts(world, f"/v1/payment_methods/{token}/detach")] == [f"detach-{token}"]
    assert await saved_methods(world) == []


async def test_cards_can_be_saved_and_wechat_pay_or_alipay_through_stripe_cannot(world):  # noqa: F811
    listed = {m["id"]: m for m in (await world.service.get(METHODS))["methods"]}
    assert {m: listed[m]["can_save"] for m in ("credit_card", "wechat_pay", "alipay")} == \
        {"credit_card": True, "wechat_pay": False, "alipay": False}

    refused = await world.service.post(RECEIVES, {"amount": 5, "payment_method": "wechat_pay", "save_method": True},
                                       expect=422)

    assert refused["error"]["code"] == "validation_error" and "save_method" in refused["error"]["details"]
    assert world.stripe.sessions == {}
