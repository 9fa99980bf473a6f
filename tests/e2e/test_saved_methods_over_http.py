"""Saved payment methods and one-click purchases over HTTP with the mock (docs/saved-methods.md):
a purchase with `save_method` paid through the checkout page (its `card` select) saves the method;
`GET /saved-methods` lists it; a one-click purchase with `saved_method_id` is charged at once (201,
`session` null, `succeeded`); a method that declines gives `failed` with its reason; one that
needs the payer returns the session opened for them; the default switches; delete answers 204,
then 404; someone else's method is 404; both ways to pay at once, or `save_method` where the
provider keeps none, are 422; `GET /methods` tells `can_save`; the admin overview lists them."""
from __future__ import annotations

import attrs
import pytest

from e2e_support import MEMBERSHIP, METHODS, PLAN, RECEIVES, SESSIONS, assert_session, assert_transaction, error_of, ok
from live import eventually, pay_through_page
from plugins.mock import provider as mock_provider

SAVED = "/api/v1/payments/saved-methods"


async def membership(api, user: str = "u1") -> dict:
    return await ok(await api.get(MEMBERSHIP, user=user))


async def saved_methods(api, user: str = "u1") -> list[dict]:
    return (await ok(await api.get(SAVED, user=user)))["items"]


async def save_a_method(api, browser, card: str = "ok", user: str = "u1") -> dict:
    """Buy 5 receives with save_method, pay on the checkout page with `card`; the method saved."""
    before = {m["id"] for m in await saved_methods(api, user)}
    bought = await ok(await api.post(RECEIVES, {"amount": 5, "payment_method": "credit_card", "save_method": True},
                                     user=user), 201)
    await pay_through_page(browser, bought["session"]["payment_url"], card=card)
    found = await eventually(lambda: saved_methods(api, user), lambda items: {m["id"] for m in items} - before,
                             what="the saved method")
    return next(m for m in found if m["id"] not in before)


async def test_a_purchase_with_save_method_saves_the_mock_card_as_the_default(live_api, browser):
    saved = await save_a_method(live_api, browser)

    assert saved["id"].startswith("spm_")
    assert {k: v for k, v in saved.items() if k not in ("id", "created_at")} == {
        "payment_method": "credit_card", "provider": "mock", "label": "Mock card •••• 4242", "brand": "visa",
        "last4": "4242", "exp_month": 12, "exp_year": 2030, "is_default": True}
    assert saved["created_at"].endswith("Z")


async def test_a_one_click_purchase_succeeds_at_once(live_api, browser):
    saved = await save_a_method(live_api, browser)
    before = (await membership(live_api))["receives"]["purchased_remaining"]

    bought = await ok(await live_api.post(RECEIVES, {"amount": 10, "saved_method_id": saved["id"]},
                                          headers={"Idempotency-Key": "one-click-1"}), 201)

    assert bought["session"] is None
    t = assert_transaction(bought["transaction"])
    assert (t["status"], t["total"], t["payment_method"], t["provider"]) == ("succeeded", 1700, "credit_card", "mock")
    assert (await membership(live_api))["receives"]["purchased_remaining"] == before + 10
    replay = await live_api.post(RECEIVES, {"amount": 10, "saved_method_id": saved["id"]},
                                 headers={"Idempotency-Key": "one-click-1"})
    assert replay.headers.get("Idempotent-Replayed") == "true" and (await ok(replay, 201)) == bought
    assert (await membership(live_api))["receives"]["purchased_remaining"] == before + 10


async def test_a_method_that_declines_fails_the_purchase(live_api, browser):
    saved = await save_a_method(live_api, browser, card="declines")

    bought = await ok(await live_api.post(RECEIVES, {"amount": 3, "saved_method_id": saved["id"]}), 201)

    assert bought["session"] is None
    assert (bought["transaction"]["status"], bought["transaction"]["failure_reason"]) == ("failed", "card_declined")


async def test_a_method_that_needs_the_payer_returns_a_session_to_pay_in(live_api, browser):
    saved = await save_a_method(live_api, browser, card="requires_action")

    bought = await ok(await live_api.post(RECEIVES, {"amount": 3, "saved_method_id": saved["id"]}), 201)

    s = assert_session(bought["session"])
    assert (bought["transaction"]["status"], s["status"], s["payment_method"]) == ("pending", "open", "credit_card")
    await pay_through_page(browser, s["payment_url"])
    paid = await eventually(lambda: live_api.get(f"/api/v1/payments/transactions/{bought['transaction']['id']}"),
                            lambda r: r.status == 200, what="the transaction")
    assert (await eventually(lambda: _status(live_api, bought["transaction"]["id"]),
                             lambda status: status == "succeeded", what="the payment")) == "succeeded"
    assert paid.status == 200


async def _status(api, transaction_id: str) -> str:
    return (await ok(await api.get(f"/api/v1/payments/transactions/{transaction_id}")))["transaction"]["status"]


async def test_an_upgrade_paid_with_a_saved_method(live_api, browser):
    saved = await save_a_method(live_api, browser)

    started = await ok(await live_api.post(PLAN, {"new_plan": "pro", "saved_method_id": saved["id"]}), 201)

    assert started["session"] is None and started["transaction"]["status"] == "succeeded"
    assert (await membership(live_api))["plan"] == "pro"


async def test_the_default_switches_and_a_deleted_method_is_gone(live_api, browser):
    first = await save_a_method(live_api, browser)
    second = await save_a_method(live_api, browser)
    assert (first["is_default"], second["is_default"]) == (True, False)

    chosen = await ok(await live_api.post(f"{SAVED}/{second['id']}/default"))

    assert chosen["id"] == second["id"] and chosen["is_default"]
    assert {m["id"]: m["is_default"] for m in await saved_methods(live_api)} == {first["id"]: False, second["id"]: True}
    deleted = await live_api.client.delete(f"{SAVED}/{second['id']}", headers=live_api.headers("u1"))
    assert deleted.status == 204 and await deleted.read() == b""
    assert [(m["id"], m["is_default"]) for m in await saved_methods(live_api)] == [(first["id"], True)]
    again = await live_api.client.delete(f"{SAVED}/{second['id']}", headers=live_api.headers("u1"))
    await error_of(again, 404, "not_found")
    await error_of(await live_api.post(RECEIVES, {"amount": 1, "saved_method_id": second["id"]}), 404, "not_found")
    assert live_api.mock._remote.saved_method(f"mock_pm_{_order_of(live_api, second)}").detached


def _order_of(api, saved: dict) -> str:
    store = api.container.adapters.overridden[-1].provides.database()
    return store.saved_methods[saved["id"]].token.removeprefix("mock_pm_")


async def test_someone_elses_method_is_not_found(live_api, browser):
    saved = await save_a_method(live_api, browser, user="u1")

    await error_of(await live_api.post(RECEIVES, {"amount": 1, "saved_method_id": saved["id"]}, user="u2"),
                   404, "not_found")
    await error_of(await live_api.post(PLAN, {"new_plan": "pro", "saved_method_id": saved["id"]}, user="u2"),
                   404, "not_found")
    await error_of(await live_api.post(f"{SAVED}/{saved['id']}/default", user="u2"), 404, "not_found")
    await error_of(await live_api.client.delete(f"{SAVED}/{saved['id']}", headers=live_api.headers("u2")),
                   404, "not_found")
    assert await saved_methods(live_api, "u2") == []


async def test_both_ways_to_pay_or_neither_is_a_validation_error(api):
    both = await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock",
                                                    "saved_method_id": "spm_x"}), 422, "validation_error")
    assert "saved_method_id" in both["details"]
    neither = await error_of(await api.post(RECEIVES, {"amount": 1}), 422, "validation_error")
    assert "payment_method" in neither["details"]
    await error_of(await api.post(PLAN, {"new_plan": "pro", "payment_method": "mock", "saved_method_id": "spm_x"}),
                   422, "validation_error")
    await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock", "save_method": "yes"}),
                   422, "validation_error")


async def test_methods_tell_can_save_and_a_provider_that_keeps_none_refuses_save_method(api, monkeypatch):
    methods = (await ok(await api.get(METHODS)))["methods"]
    assert {m["id"]: m["can_save"] for m in methods} == {"wechat_pay": True, "alipay": True, "credit_card": True,
                                                          "mock": True}

    monkeypatch.setattr(mock_provider, "CAPABILITIES",
                        attrs.evolve(mock_provider.CAPABILITIES, can_save_methods=False))
    assert not any(m["can_save"] for m in (await ok(await api.get(METHODS)))["methods"])
    refused = await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "wechat_pay",
                                                       "save_method": True}), 422, "validation_error")
    assert "save_method" in refused["details"]
    bought = await ok(await api.post(RECEIVES, {"amount": 1, "payment_method": "wechat_pay"}), 201)
    await error_of(await api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"], "save_method": True}),
                   422, "validation_error")


async def test_the_admin_overview_lists_the_users_saved_methods(live_api, browser):
    saved = await save_a_method(live_api, browser)

    overview = await ok(await live_api.get("/api/v1/admin/users/u1", user="admin1", role="admin"))

    assert [m["id"] for m in overview["saved_methods"]] == [saved["id"]]
    assert overview["saved_methods"][0]["label"] == "Mock card •••• 4242"


@pytest.mark.parametrize("card", ["ok", "declines", "requires_action"])
async def test_the_checkout_page_offers_the_card_select(api, card):
    bought = await ok(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock", "save_method": True}), 201)
    page = await api.client.get(f"/mock-checkout/{bought['session']['id']}")
    html = await page.text()
    assert f'<option value="{card}">' in html and 'name="card"' in html


async def test_the_risk_gate_applies_to_one_click_purchases(make_live_api, browser):
    api = await make_live_api(PAYMENTS_RISK_DAILY_LIMIT="2000")
    saved = await save_a_method(api, browser)  # 900 paid today

    refused = await error_of(await api.post(RECEIVES, {"amount": 10, "saved_method_id": saved["id"]}),
                             403, "risk_declined")  # 900 + 1700 > 2000

    assert refused["details"] == {} or isinstance(refused["details"], dict)
    transactions = await ok(await api.get("/api/v1/payments/transactions"))
    assert transactions["total"] == 1  # nothing was opened or charged
