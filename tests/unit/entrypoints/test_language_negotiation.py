"""`Accept-Language` negotiation (`entrypoints/http/language.py`) and the Chinese texts
(`entrypoints/http/texts.py`): which header values choose Chinese, and that every method, plan and
error code has its Chinese text."""
from __future__ import annotations

import inspect

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain import errors as domain_errors
from domain.catalog import PAYMENT_METHODS, PlanId
from entrypoints.http import texts
from entrypoints.http.errors import HTTP_CODES
from entrypoints.http.language import (
    CHINESE,
    ENGLISH,
    LANGUAGES,
    headers_for,
    negotiate,
)


@pytest.mark.parametrize("header", [
    "zh-CN", "zh", "ZH-cn", "zh-Hans", "zh-Hans-CN", "zh-Hans-HK", "zh-SG",
    "zh-CN,zh;q=0.9,en;q=0.8",          # a Chinese browser's usual header
    "en;q=0.5, zh-CN;q=0.9",             # the best q wins, not the first listed
    "fr, de;q=0.9, zh;q=0.1",            # languages we do not have are passed over
    "zh-TW, zh-CN;q=0.5",                # Traditional is passed over, Simplified taken
    "zh-CN ; q=0.7",                     # white space around the parameter
    "xx-!!, zh",                         # an unreadable range is passed over
])
def test_these_choose_chinese(header):
    assert negotiate(header) == CHINESE


@pytest.mark.parametrize("header", [
    "en", "en-US,en;q=0.9", "fr", "ja, ko;q=0.5", "zh-TW", "zh-HK", "zh-MO", "zh-Hant", "zh-Hant-CN",
    "zh;q=0", "zh-CN;q=0.000",           # q=0 means "not this one"
    "en, zh-CN",                         # a tie: the first listed wins
    "en;q=0.8, zh;q=0.8",
    "*", "*;q=0.5, zh;q=0.1",            # `*` is any language: ours is English
    "zh;q=2", "zh;q=0.5x", "zh;level=1",  # an unreadable q-value or parameter: passed over
    "", ",,,", ";q=1", "z" * 300,
])
def test_these_choose_english(header):
    assert negotiate(header) == ENGLISH


@given(st.text(max_size=200))
def test_any_header_value_gives_one_of_our_languages(header):
    assert negotiate(header) in LANGUAGES


def test_a_header_value_seen_before_is_a_cache_lookup():
    negotiate("de-CH, zh;q=0.4")
    hits = negotiate.cache_info().hits

    assert negotiate("de-CH, zh;q=0.4") == CHINESE
    assert negotiate.cache_info().hits == hits + 1


def test_the_headers_of_a_response_say_what_it_varies_on_and_its_language():
    assert headers_for(CHINESE) == {"Vary": "Accept-Language", "Content-Language": "zh-CN"}
    assert headers_for(ENGLISH) == {"Vary": "Accept-Language", "Content-Language": "en"}


def test_every_payment_method_and_plan_has_a_chinese_name():
    assert set(texts.METHOD_NAMES) == set(PAYMENT_METHODS)
    assert set(texts.PLAN_NAMES) == {plan.value for plan in PlanId}


def every_error_code() -> set[str]:
    domain_codes = {cls.code for _, cls in inspect.getmembers(domain_errors, inspect.isclass)
                    if issubclass(cls, domain_errors.PaymentsError)}
    contract_codes = {"malformed_json", "unauthorized", "forbidden", "not_found", "method_not_allowed",
                      "invalid_state", "plan_unchanged", "too_many_pending", "idempotency_request_in_progress",
                      "insufficient_receives", "payload_too_large", "validation_error", "idempotency_key_reused",
                      "payment_method_unavailable", "rate_limited", "provider_error", "provider_unavailable"}
    return domain_codes | contract_codes | set(HTTP_CODES.values()) | {"internal_error"}


def test_every_error_code_has_a_chinese_sentence():
    missing = every_error_code() - set(texts.ERROR_MESSAGES)

    assert not missing
    assert all(sentence.endswith("。") for sentence in texts.ERROR_MESSAGES.values())


def test_an_error_message_is_its_fixed_sentence_else_its_codes_sentence_else_english():
    chinese = texts.error_message
    assert chinese("unauthorized", "Use the Bearer authorization scheme.", CHINESE) == "请使用 Bearer 认证方式。"
    assert chinese("not_found", "Transaction txn_1 not found.", CHINESE) == texts.ERROR_MESSAGES["not_found"]
    assert chinese("a_future_code", "Something new.", CHINESE) == "Something new."
    assert chinese("not_found", "Transaction txn_1 not found.", ENGLISH) == "Transaction txn_1 not found."


def test_names_fall_back_to_english_for_an_id_without_a_chinese_one():
    assert texts.method_name("wechat_pay", "WeChat Pay", CHINESE) == "微信支付"
    assert texts.method_name("paypal", "PayPal", CHINESE) == "PayPal"
    assert texts.plan_name("pro", "Pro", ENGLISH) == "Pro"
