"""POST /api/v1/payments/receives: buying receives through HTTP."""
from datetime import timedelta

import pytest

from builders import OPEN_ATTEMPTS
from domain.errors import ProviderError, ProviderUnavailableError
from e2e_support import (
    RECEIVES,
    assert_session,
    assert_transaction,
    buy,
    error_of,
    membership,
    mock_provider,
    ok,
    parse_timestamp,
    pay,
    transaction,
    transaction_count,
)


async def test_buying_receives_answers_201_with_a_pending_transaction_and_an_open_session(api):
    body = await buy(api, 10, "wechat_pay")

    assert set(body) == {"transaction", "session"}
    t, s = assert_transaction(body["transaction"]), assert_session(body["session"])
    assert {k: t[k] for k in t if k not in {"id", "order_id", "created_at", "updated_at"}} == {
        "type": "purchase_receives", "status": "pending", "receives": 10, "plan_from": None, "plan_to": None,
        "subtotal": 2000, "discount": 300, "total": 1700, "currency": "CNY", "payment_method": "wechat_pay",
        "provider": "mock", "refunded_amount": 0, "cancel_reason": None, "failure_reason": None,
        "completed_at": None, "price_variant": None}
    assert s["transaction_id"] == t["id"]
    assert (s["status"], s["amount"], s["currency"]) == ("open", 1700, "CNY")
    assert (s["payment_method"], s["provider"], s["completed_at"]) == ("wechat_pay", "mock", None)
    assert s["payment_url"] == f"http://payments.test/mock-checkout/{s['id']}"
    assert s["qr_code"] == s["payment_url"]
    assert parse_timestamp(s["expires_at"]) - parse_timestamp(s["created_at"]) == timedelta(hours=1)


@pytest.mark.parametrize(("amount", "subtotal", "discount", "total"), [
    (1, 200, 0, 200), (4, 800, 0, 800), (5, 1000, 100, 900), (7, 1400, 140, 1260), (10, 2000, 300, 1700),
    (19, 3800, 570, 3230), (20, 4000, 800, 3200), (100, 20000, 4000, 16000)])
async def test_the_price_is_computed_by_the_server_from_the_quantity_tier(api, amount, subtotal, discount, total):
    body = await buy(api, amount)

    t = body["transaction"]
    assert (t["receives"], t["subtotal"], t["discount"], t["total"]) == (amount, subtotal, discount, total)
    assert body["session"]["amount"] == total


async def test_the_balance_grows_only_when_the_provider_confirms_the_payment(api):
    before = await membership(api)
    bought = await buy(api, 10)

    assert (await membership(api))["receives"] == before["receives"]
    await pay(api, bought["session"])

    after = await membership(api)
    assert after["receives"]["purchased_remaining"] == 10
    assert after["receives"]["balance"] == before["receives"]["balance"] + 10
    detail = await transaction(api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "succeeded"
    assert parse_timestamp(detail["transaction"]["completed_at"])
    assert [s["status"] for s in detail["sessions"]] == ["completed"]


async def test_a_return_url_on_an_allowed_host_is_accepted(api):
    body = await buy(api, 1, "alipay", return_url="http://localhost:3000/paid?x=1")

    assert body["transaction"]["payment_method"] == "alipay"


@pytest.mark.parametrize("return_url", [
    "https://evil.example/phish", "http://localhost.evil.example/", "javascript:alert(1)",
    "//evil.example/x", "ftp://localhost/x", "http://user@evil.example/"])
async def test_a_return_url_on_a_foreign_host_is_refused_and_nothing_is_created(api, return_url):
    response = await api.post(RECEIVES, {"amount": 1, "payment_method": "alipay", "return_url": return_url})

    error = await error_of(response, 422, "validation_error")
    assert "return_url" in error["details"]
    assert await transaction_count(api) == 0


async def test_a_sixth_pending_purchase_is_refused_with_too_many_pending(api):
    for _ in range(5):
        await buy(api, 1)

    response = await api.post(RECEIVES, {"amount": 1, "payment_method": "wechat_pay"})

    await error_of(response, 409, "too_many_pending")
    assert await transaction_count(api) == 5


async def test_the_pending_limit_is_per_user_and_paying_or_cancelling_frees_a_place(make_api):
    api = await make_api(PAYMENTS_MAX_PENDING="2")
    first = await buy(api, 1)
    second = await buy(api, 1)
    await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock"}), 409, "too_many_pending")
    await buy(api, 1, user="u2")  # another user's limit is their own

    await pay(api, first["session"])
    third = await buy(api, 1)
    await ok(await api.post("/api/v1/payments/cancel", {"transaction_id": second["transaction"]["id"]}))
    await buy(api, 1)

    await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock"}), 409, "too_many_pending")
    assert third["transaction"]["status"] == "pending"


@pytest.mark.parametrize(("body", "field"), [
    ({"amount": "10", "payment_method": "wechat_pay"}, "amount"),
    ({"amount": True, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": 10.5, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": 10.0, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": None, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": 0, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": -1, "payment_method": "wechat_pay"}, "amount"),
    ({"amount": 101, "payment_method": "wechat_pay"}, "amount"),
    ({"payment_method": "wechat_pay"}, "amount"),
    ({"amount": 10}, "payment_method"),
    ({"amount": 10, "payment_method": "paypal"}, "payment_method"),
    ({"amount": 10, "payment_method": "WECHAT_PAY"}, "payment_method"),
    ({"amount": 10, "payment_method": 1}, "payment_method"),
    ({"amount": 10, "payment_method": "wechat_pay", "return_url": 5}, "return_url"),
    ({"amount": 10, "payment_method": "wechat_pay", "price": 1}, "price"),
    ({"amount": 10, "payment_method": "wechat_pay", "user_id": "u2"}, "user_id"),
    ({"amount": 10, "payment_method": "wechat_pay", "total": 1}, "total"),
])
async def test_a_wrong_body_is_refused_with_a_validation_error_naming_the_field(api, body, field):
    response = await api.post(RECEIVES, body)

    error = await error_of(response, 422, "validation_error")
    assert field in error["details"], error
    assert await transaction_count(api) == 0


@pytest.mark.parametrize("raw", [b"amount=10", b"{\"amount\": 10,", b"[]", b"[{\"amount\": 10}]", b"10", b"\"x\"",
                                 b"null", b""])
async def test_a_body_that_is_not_a_json_object_is_refused_with_malformed_json(api, raw):
    response = await api.post(RECEIVES, data=raw, headers={"Content-Type": "application/json"})

    await error_of(response, 400, "malformed_json")
    assert await transaction_count(api) == 0


async def test_a_method_no_provider_serves_is_refused_with_payment_method_unavailable(make_api):
    api = await make_api(PAYMENTS_METHOD_ROUTES="mock=mock")

    response = await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"})

    error = await error_of(response, 422, "payment_method_unavailable")
    assert "payment_method" in error["details"]
    assert await transaction_count(api) == 0
    assert (await buy(api, 10, "mock"))["session"]["payment_method"] == "mock"


async def test_a_provider_that_does_not_answer_gives_503_and_leaves_the_transaction_pending(api):
    mock = await mock_provider(api)
    mock.inject_fault("open_payment", ProviderUnavailableError("timed out"), times=OPEN_ATTEMPTS)

    response = await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"})

    await error_of(response, 503, "provider_unavailable")
    listed = (await ok(await api.get("/api/v1/payments/transactions")))["items"]
    assert [(t["status"], t["failure_reason"]) for t in listed] == [("pending", "provider_unavailable")]
    detail = await transaction(api, listed[0]["id"])
    assert [s["status"] for s in detail["sessions"]] == ["failed"]
    assert (await membership(api))["receives"]["purchased_remaining"] == 0


async def test_a_provider_that_refuses_gives_502_provider_error(api):
    (await mock_provider(api)).inject_fault("open_payment", ProviderError("refused"))

    response = await api.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"})

    await error_of(response, 502, "provider_error")


async def test_the_mock_fault_drills_apply_to_the_in_memory_set_up_too(make_api):
    api = await make_api(PAYMENTS_MOCK_FAULTS="open_payment=unavailable:1")

    response = await api.post("/api/v1/payments/receives", {"amount": 1, "payment_method": "mock"})

    await error_of(response, 503, "provider_unavailable")
