"""Issue 12: `Accept-Language: zh-CN` (or `zh`, `zh-Hans`; with q-values the best match wins) gives
Chinese display texts: method names, plan names and error messages; anything else English. Codes,
ids, enum values and `details` keys never change, and the answers say `Vary: Accept-Language`.
Through a real aiohttp server."""
from __future__ import annotations

import re

import pytest

from e2e_support import (
    CONSUME,
    MEMBERSHIP,
    METHODS,
    PLAN,
    PRICING,
    RECEIVES,
    error_of,
    mock_provider,
    ok,
)

from domain.errors import ProviderUnavailableError

CHINESE_METHODS = {"wechat_pay": "微信支付", "alipay": "支付宝", "credit_card": "银行卡", "mock": "模拟支付"}
ENGLISH_METHODS = {"wechat_pay": "WeChat Pay", "alipay": "Alipay", "credit_card": "Card", "mock": "Mock"}
CHINESE_PLANS = {"basic": "基础版", "pro": "专业版", "vip": "VIP 会员"}
ENGLISH_PLANS = {"basic": "Basic", "pro": "Pro", "vip": "VIP"}
HAN = re.compile(r"[\u4e00-\u9fff]")
CHINESE_HEADERS = ["zh-CN", "zh", "zh-Hans", "zh-hans-cn", "en;q=0.5, zh-CN;q=0.9", "fr, zh;q=0.3",
                   "zh-TW;q=0.9, zh-CN;q=0.8, en;q=0.1"]
ENGLISH_HEADERS = [None, "en", "en-US,en;q=0.9", "fr-FR", "ja, de;q=0.5", "zh-TW", "zh-Hant", "zh-CN;q=0",
                   "en, zh-CN;q=0.9", "*", "not a language!!", ""]


def accept(value: str | None) -> dict:
    return {} if value is None else {"Accept-Language": value}


def varies_on(response) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("header", CHINESE_HEADERS)
async def test_methods_are_named_in_chinese(api, header):
    response = await api.get(METHODS, headers=accept(header))

    methods = (await ok(response))["methods"]
    assert {m["id"]: m["name"] for m in methods} == CHINESE_METHODS
    assert "accept-language" in varies_on(response)
    assert response.headers["Content-Language"] == "zh-CN"


@pytest.mark.parametrize("header", ENGLISH_HEADERS)
async def test_methods_are_named_in_english_otherwise(api, header):
    response = await api.get(METHODS, headers=accept(header))

    methods = (await ok(response))["methods"]
    assert {m["id"]: m["name"] for m in methods} == ENGLISH_METHODS
    assert "accept-language" in varies_on(response)
    assert response.headers["Content-Language"] == "en"


async def test_plans_are_named_in_chinese_and_nothing_else_changes(api):
    english = await ok(await api.get(PRICING))
    response = await api.get(PRICING, headers=accept("zh-CN"))

    chinese = await ok(response)
    assert {p["id"]: p["name"] for p in chinese["plans"]} == CHINESE_PLANS
    assert {p["id"]: p["name"] for p in english["plans"]} == ENGLISH_PLANS
    for plan in english["plans"] + chinese["plans"]:
        plan.pop("name")
    assert chinese == english  # ids, prices, currency and tiers are the same in every language
    assert "accept-language" in varies_on(response)


@pytest.mark.parametrize("header", ENGLISH_HEADERS[1:5])
async def test_plans_are_named_in_english_for_other_languages(api, header):
    pricing = await ok(await api.get(PRICING, headers=accept(header)))

    assert {p["id"]: p["name"] for p in pricing["plans"]} == ENGLISH_PLANS


ERRORS = {
    "unknown route": (404, "not_found", lambda api, h: api.get("/api/v1/payments/nope", headers=h)),
    "wrong method": (405, "method_not_allowed", lambda api, h: api.client.delete(RECEIVES, headers=h)),
    "no token": (401, "unauthorized", lambda api, h: api.get(MEMBERSHIP, user=None, headers=h)),
    "wrong role": (403, "forbidden",
                   lambda api, h: api.post(CONSUME, {"user_id": "u1", "count": 1, "reference": "r"}, headers=h)),
    "not json": (400, "malformed_json", lambda api, h: api.post(
        RECEIVES, data=b"[]", headers={**h, "Content-Type": "application/json"})),
    "invalid body": (422, "validation_error",
                     lambda api, h: api.post(RECEIVES, {"amount": 0, "payment_method": "paypal"}, headers=h)),
    "unknown query parameter": (422, "validation_error", lambda api, h: api.get(MEMBERSHIP, params={"x": "1"},
                                                                                headers=h)),
    "state conflict": (409, "plan_unchanged", lambda api, h: api.post(PLAN, {"new_plan": "basic"}, headers=h)),
    "unknown object": (404, "not_found", lambda api, h: api.get("/api/v1/payments/sessions/ps_missing", headers=h)),
    "oversized body": (413, "payload_too_large", lambda api, h: api.post(
        RECEIVES, data=b"{\"x\": \"" + b"x" * 300_000 + b"\"}", headers={**h, "Content-Type": "application/json"})),
}


@pytest.mark.parametrize("case", list(ERRORS))
async def test_an_error_message_is_a_chinese_sentence_with_the_same_code_and_details(api, case):
    status, code, send = ERRORS[case]

    chinese_response = await send(api, accept("zh-CN"))
    english_response = await send(api, {})

    chinese = await error_of(chinese_response, status, code)
    english = await error_of(english_response, status, code)
    assert HAN.search(chinese["message"]), chinese
    assert not HAN.search(english["message"]), english
    assert chinese["message"].endswith("。")
    assert chinese["details"] == english["details"]  # keys and their (English) messages alike
    assert "accept-language" in varies_on(chinese_response)
    assert "accept-language" in varies_on(english_response)
    assert chinese_response.headers["Content-Language"] == "zh-CN"


async def test_a_405_in_chinese_still_names_the_allowed_methods(api):
    response = await api.client.delete(RECEIVES, headers=accept("zh"))

    error = await error_of(response, 405, "method_not_allowed")
    assert "POST" in error["message"] and HAN.search(error["message"])
    assert "POST" in response.headers["Allow"]


@pytest.mark.parametrize("header", ENGLISH_HEADERS)
async def test_error_messages_are_english_for_any_other_language(api, header):
    error = await error_of(await api.get(MEMBERSHIP, user=None, headers=accept(header)), 401, "unauthorized")

    assert not HAN.search(error["message"])


async def test_a_replayed_answer_is_the_stored_one_whatever_the_language_of_the_repeat(api):
    body = {"amount": 1, "payment_method": "wechat_pay"}
    first = await api.post(RECEIVES, body, headers={"Idempotency-Key": "lang-1"})

    replay = await api.post(RECEIVES, body, headers={"Idempotency-Key": "lang-1", **accept("zh-CN")})

    assert replay.headers["Idempotent-Replayed"] == "true"
    assert await replay.read() == await first.read()


async def test_a_provider_failure_has_a_fixed_chinese_message(api):
    (await mock_provider(api)).inject_fault("open_payment", ProviderUnavailableError("10.0.0.7 down"), times=10)

    error = await error_of(await api.post(RECEIVES, {"amount": 1, "payment_method": "mock"}, headers=accept("zh")),
                           503, "provider_unavailable")

    assert HAN.search(error["message"]) and "10.0.0.7" not in error["message"]
