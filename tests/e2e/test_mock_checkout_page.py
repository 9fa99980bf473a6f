"""The mock's checkout page as the contract's "Frontend conveniences" describe it, over HTTP from a
real server: the method's display name, the amount with its breakdown, a countdown to
`expires_at` (a text without JavaScript), a 303 back to the session's `return_url` after Pay or
Decline, a QR code of the session's `payment_url`, and the page in Chinese for a browser that asks
for it (`Vary: Accept-Language`). Chromium renders the same page in test_checkout_in_browser.py."""
from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta

import pytest

from e2e_support import SESSIONS, buy, change_plan, membership, ok, parse_timestamp, session
from live import CheckoutPage, eventually, open_checkout
from qr_reading import read_qr

SHOP = "http://localhost:3000/paid?order=42"


async def page_in(browser, url: str, accept_language: str | None = None) -> tuple[CheckoutPage, dict]:
    headers = {"Accept-Language": accept_language} if accept_language is not None else {}
    async with browser.get(url, headers=headers) as response:
        return CheckoutPage.parse(response.status, response.content_type, await response.text()), response.headers


def lang_of(page: CheckoutPage) -> str:
    return re.search(r'<html lang="([^"]+)"', page.html).group(1)


def breakdown(page: CheckoutPage) -> list[tuple[str, str]]:
    kinds = re.findall(r'<tr[^>]* id="line-([a-z_]+)"', page.html)
    return [(page.text_of(f"line-{kind}-label"), page.text_of(f"line-{kind}-amount")) for kind in kinds]


async def press(browser, page: CheckoutPage, outcome: str, accept_language: str | None = None):
    """POST the page's own form as the browser would, without following a redirect."""
    (form,) = page.forms
    headers = {"Accept-Language": accept_language} if accept_language else {}
    return await browser.post(form["action"], data={"outcome": outcome}, headers=headers, allow_redirects=False)


# ---------------------------------------------------------------------- what it shows
@pytest.mark.parametrize("method, english, chinese", [("wechat_pay", "WeChat Pay", "微信支付"),
                                                      ("alipay", "Alipay", "支付宝"),
                                                      ("credit_card", "Card", "银行卡"),
                                                      ("mock", "Mock", "模拟支付")])
async def test_the_page_shows_the_display_name_of_the_method_the_payer_chose(live_api, browser, method, english,
                                                                            chinese):
    bought = await buy(live_api, 3, method)

    in_english, _ = await page_in(browser, bought["session"]["payment_url"])
    in_chinese, _ = await page_in(browser, bought["session"]["payment_url"], "zh-CN")

    assert (in_english.text_of("method"), in_chinese.text_of("method")) == (english, chinese)


async def test_receives_show_their_subtotal_discount_and_total(live_api, browser):
    bought = await buy(live_api, 10)

    page, _ = await page_in(browser, bought["session"]["payment_url"])

    assert page.text_of("amount") == "17.00 CNY"
    assert breakdown(page) == [("10 receives", "20.00 CNY"), ("Bulk discount", "−3.00 CNY"), ("Total", "17.00 CNY")]


async def test_a_purchase_without_a_discount_shows_no_discount_line(live_api, browser):
    bought = await buy(live_api, 2)

    page, _ = await page_in(browser, bought["session"]["payment_url"], "zh")

    assert breakdown(page) == [("2 次收信", "4.00 CNY"), ("合计", "4.00 CNY")]


async def test_an_upgrade_between_paid_plans_shows_the_new_plan_less_the_credit_for_the_old(make_live_api, clock,
                                                                                           browser):
    api = await make_live_api(clock=clock)
    _, to_pro = await change_plan(api, "pro", "wechat_pay")
    page, _ = await page_in(browser, to_pro["session"]["payment_url"])
    assert breakdown(page) == [("Pro plan, this period", "29.00 CNY"), ("Total", "29.00 CNY")]
    await (await press(browser, page, "succeeded")).release()
    await eventually(lambda: membership(api), lambda m: m["plan"] == "pro", what="the pro plan")
    clock.advance(timedelta(days=14))

    _, to_vip = await change_plan(api, "vip", "alipay")
    english, _ = await page_in(browser, to_vip["session"]["payment_url"])
    chinese, _ = await page_in(browser, to_vip["session"]["payment_url"], "zh-CN,zh;q=0.9")

    assert to_vip["proration"] == {**to_vip["proration"], "credit": 1590, "debit": 3235, "charge": 1645}
    assert breakdown(english) == [("VIP plan, this period", "32.35 CNY"), ("Credit for the unused Pro plan", "−15.90 CNY"),
                                  ("Total", "16.45 CNY")]
    assert breakdown(chinese) == [("VIP 会员（本周期）", "32.35 CNY"), ("专业版未使用部分抵扣", "−15.90 CNY"),
                                  ("合计", "16.45 CNY")]
    await api.mock.wait_for_deliveries()


async def test_the_countdown_counts_to_expires_at_and_without_javascript_says_until_when(live_api, browser):
    bought = await buy(live_api, 5)
    expires_at = parse_timestamp(bought["session"]["expires_at"])

    page, headers = await page_in(browser, bought["session"]["payment_url"])
    chinese, _ = await page_in(browser, bought["session"]["payment_url"], "zh-CN")

    countdown = page.elements["countdown"]
    assert parse_timestamp(countdown.attrs["data-expires-at"]) == expires_at.replace(microsecond=0)
    assert countdown.text == f"Pay before {expires_at:%Y-%m-%d %H:%M:%S} UTC"  # what a page without scripts shows
    assert chinese.text_of("countdown") == f"请在 {expires_at:%Y-%m-%d %H:%M:%S} UTC 前支付"
    (script,) = re.findall(r"<script>(.*?)</script>", page.html, flags=re.S)
    policy = dict(d.split(" ", 1) for d in headers["Content-Security-Policy"].split("; "))
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"  # that script runs, and no other


async def test_the_qr_code_encodes_the_sessions_payment_url(live_api, browser):
    bought = await buy(live_api, 5, "alipay")

    page, _ = await page_in(browser, bought["session"]["payment_url"])

    assert read_qr(page.elements["qr"].attrs["src"]) == [bought["session"]["payment_url"]]


# ---------------------------------------------------------------------- the language
@pytest.mark.parametrize("accept_language, lang", [
    (None, "en"), ("zh-CN", "zh-CN"), ("zh", "zh-CN"), ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"), ("fr, zh;q=0.5", "zh-CN"), ("fr", "en"), ("zh-TW", "en"),
    ("zh-Hans-HK", "zh-CN"), ("zh;q=0, en", "en"), ("*", "en"), ("%%%, zh", "zh-CN")])
async def test_the_page_is_chinese_for_a_browser_that_asks_for_it_and_english_otherwise(live_api, browser,
                                                                                       accept_language, lang):
    bought = await buy(live_api, 5)

    page, headers = await page_in(browser, bought["session"]["payment_url"], accept_language)

    assert page.status == 200
    assert lang_of(page) == lang and headers["Content-Language"] == lang
    assert headers["Vary"] == "Accept-Language"
    assert (page.text_of("pay"), page.text_of("decline")) == (("支付", "拒绝") if lang == "zh-CN" else ("Pay", "Decline"))


# ---------------------------------------------------------------------- back to the merchant
@pytest.mark.parametrize("outcome, status", [("succeeded", "completed"), ("failed", "failed")])
async def test_after_pay_or_decline_the_page_answers_303_to_the_return_url(live_api, browser, outcome, status):
    bought = await buy(live_api, 5, "alipay", return_url=SHOP)
    page, _ = await page_in(browser, bought["session"]["payment_url"])

    answer = await press(browser, page, outcome)

    assert answer.status == 303
    assert answer.headers["Location"] == SHOP
    assert await answer.read() == b""
    policy = dict(d.split(" ", 1) for d in answer.headers["Content-Security-Policy"].split("; "))
    assert policy["form-action"] == f"{live_api.base_url} http://localhost:3000"  # the redirect is allowed
    settled = await eventually(lambda: session(live_api, bought["session"]["id"]), lambda s: s["status"] != "open",
                               what="the notification")
    assert settled["status"] == status
    await live_api.mock.wait_for_deliveries()


async def test_without_a_return_url_the_page_answers_200_with_the_outcome_in_the_payers_language(live_api, browser):
    bought = await buy(live_api, 5)
    page, _ = await page_in(browser, bought["session"]["payment_url"], "zh-CN")

    answer = await press(browser, page, "succeeded", "zh-CN")

    outcome = CheckoutPage.parse(answer.status, answer.content_type, await answer.text())
    assert outcome.status == 200 and outcome.outcome == "支付成功。"
    assert lang_of(outcome) == "zh-CN" and answer.headers["Vary"] == "Accept-Language"
    reopened, _ = await page_in(browser, bought["session"]["payment_url"], "zh-CN")
    assert not reopened.payable and reopened.outcome == "此订单已支付。"
    await live_api.mock.wait_for_deliveries()


async def test_a_form_without_its_token_is_refused_and_never_redirected(live_api, browser):
    bought = await buy(live_api, 5, return_url=SHOP)

    answer = await browser.post(bought["session"]["payment_url"], data={"outcome": "succeeded"},
                                allow_redirects=False)

    assert answer.status == 403 and "Location" not in answer.headers
    assert (await session(live_api, bought["session"]["id"]))["status"] == "open"


async def test_a_new_session_with_its_own_return_url_sends_the_payer_there(live_api, browser):
    bought = await buy(live_api, 5, return_url=SHOP)
    again = await ok(await live_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"],
                                                    "return_url": "http://127.0.0.1:4000/done"}), 201)
    page, _ = await page_in(browser, again["payment_url"])

    answer = await press(browser, page, "succeeded")

    assert (answer.status, answer.headers["Location"]) == (303, "http://127.0.0.1:4000/done")
    await live_api.mock.wait_for_deliveries()
