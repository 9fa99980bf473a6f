"""The mock's checkout page on a live `payments serve` process, as a payer's browser sees it.

The first test needs no browser: `payments serve --port P` without PAYMENTS_PUBLIC_URL hands out
payment URLs on port P that work. The others drive headless Chromium (Debian's `chromium`, through
its command line and the DevTools protocol; the helpers are in `live`): the page's DOM, in English
and, for a browser that asks for it (`--accept-lang=zh-CN`), in Chinese, shows the method's display
name, the amount and its breakdown, a running countdown, the QR code and both buttons; a
screenshot renders a QR code that a scanner reads back as the session's `payment_url`; clicking
Pay in the browser credits the receives; and with a `return_url` the browser lands back on it
(303) after Pay or Decline. Without Chromium they are skipped, with the reason, except under
CI=true, where they fail: the browser is an optional layer of these tests only outside CI.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import zlib
from pathlib import Path

import aiohttp
import pytest
import zxingcpp
from aiohttp import web

from live import (
    CheckoutPage,
    chromium,
    devtools_page,
    eventually,
    free_port,
    needs_chromium,
    open_checkout,
    pay_through_page,
    serve_process,
)
from qr_reading import read_qr

RECEIVES = "/api/v1/payments/receives"
MEMBERSHIP = "/api/v1/payments/membership"
# Where the screenshot is kept for a human to look at (set PAYMENTS_TEST_SCREENSHOT_DIR to keep it).
SCREENSHOT_DIR = os.environ.get("PAYMENTS_TEST_SCREENSHOT_DIR")
COUNTDOWN = {"en": re.compile(r"^Time left (59|60):\d\d$"), "zh-CN": re.compile(r"^剩余时间 (59|60):\d\d$")}


@pytest.fixture
async def service(tmp_path):
    async with aiohttp.ClientSession() as http, serve_process(http, tmp_path, public_url=False) as running:
        yield running


async def purchase(service, amount: int = 10) -> dict:
    return await service.post(RECEIVES, {"amount": amount, "payment_method": "wechat_pay"}, expect=201)


async def test_serve_with_only_a_port_hands_out_checkout_urls_on_that_port(service, browser):
    bought = await purchase(service)
    url = bought["session"]["payment_url"]

    assert url == f"{service.base_url}/mock-checkout/{bought['session']['id']}"
    assert (await open_checkout(browser, url)).payable
    await pay_through_page(browser, url)
    credited = await eventually(lambda: service.get(MEMBERSHIP), lambda m: m["receives"]["purchased_remaining"] == 10,
                                what="the credit")
    assert credited["receives"]["balance"] == 13


# ---------------------------------------------------------------------- Chromium
def html_lang(dom: str) -> str:
    match = re.search(r'<html lang="([^"]+)"', dom)
    assert match, dom[:200]
    return match.group(1)


@needs_chromium
async def test_the_page_in_chromium_shows_the_method_the_amount_its_breakdown_a_countdown_the_qr_code_and_both_buttons(
        service, tmp_path):
    bought = await purchase(service)

    dom = (await chromium(tmp_path, "--dump-dom", bought["session"]["payment_url"])).decode()

    page = CheckoutPage.parse(200, "text/html", dom)
    assert html_lang(dom) == "en"
    assert page.title == f"Mock checkout – {bought['session']['order_id']}"
    assert page.text_of("method") == "WeChat Pay"
    assert page.text_of("amount") == "17.00 CNY"
    assert [(page.text_of(f"line-{kind}-label"), page.text_of(f"line-{kind}-amount"))
            for kind in ("receives", "discount", "total")] == \
        [("10 receives", "20.00 CNY"), ("Bulk discount", "−3.00 CNY"), ("Total", "17.00 CNY")]
    assert COUNTDOWN["en"].match(page.text_of("countdown")), page.text_of("countdown")  # the script ran
    assert page.text_of("order") == bought["session"]["order_id"]
    assert read_qr(page.elements["qr"].attrs["src"]) == [bought["session"]["payment_url"]]
    assert (page.elements["pay"].tag, page.text_of("pay"), page.elements["pay"].attrs["value"]) == \
        ("button", "Pay", "succeeded")
    assert (page.elements["decline"].tag, page.text_of("decline"), page.elements["decline"].attrs["value"]) == \
        ("button", "Decline", "failed")
    (form,) = page.forms  # it posts to the page's own URL, with the page's form token (issue 11)
    assert form["method"] == "post"
    assert re.fullmatch(re.escape(bought["session"]["payment_url"]) + r"\?token=[0-9a-f]{32}", form["action"])


@needs_chromium
async def test_a_browser_that_asks_for_chinese_gets_the_whole_page_in_chinese(service, tmp_path):
    bought = await purchase(service)

    dom = (await chromium(tmp_path, "--accept-lang=zh-CN", "--dump-dom", bought["session"]["payment_url"])).decode()

    page = CheckoutPage.parse(200, "text/html", dom)
    assert html_lang(dom) == "zh-CN"
    assert page.title == f"模拟收银台 – {bought['session']['order_id']}"
    assert page.text_of("method") == "微信支付"
    assert page.text_of("amount") == "17.00 CNY"
    assert [(page.text_of(f"line-{kind}-label"), page.text_of(f"line-{kind}-amount"))
            for kind in ("receives", "discount", "total")] == \
        [("10 次收信", "20.00 CNY"), ("批量折扣", "−3.00 CNY"), ("合计", "17.00 CNY")]
    assert COUNTDOWN["zh-CN"].match(page.text_of("countdown")), page.text_of("countdown")
    assert (page.text_of("pay"), page.text_of("decline")) == ("支付", "拒绝")
    assert page.elements["qr"].attrs["alt"] == "本页面的二维码"
    assert read_qr(page.elements["qr"].attrs["src"]) == [bought["session"]["payment_url"]]
    visible = re.sub(r"<[^>]+>", " ", re.sub(r"<(script|style|title)>.*?</\1>", " ", dom, flags=re.S))
    english = set(re.findall(r"[A-Za-z]{3,}", visible.replace(bought["session"]["order_id"], " "))) - {"CNY"}
    assert not english, english  # no English word left on the page (amounts and the order id aside)


@needs_chromium
async def test_with_scripts_disabled_the_page_says_until_when_it_can_be_paid_and_pay_still_works(service, tmp_path):
    bought = await purchase(service, 5)
    payment_url = bought["session"]["payment_url"]

    async with devtools_page(tmp_path, "about:blank") as page:
        assert "error" not in await page.call("Emulation.setScriptExecutionDisabled", value=True)
        await page.call("Page.navigate", url=payment_url)
        await eventually(page.location, lambda href: href == payment_url, what="the checkout page to load")
        countdown = await page.evaluate("document.getElementById('countdown').textContent")
        assert countdown == f"Pay before {bought['session']['expires_at'].replace('T', ' ').removesuffix('Z')} UTC"
        await page.evaluate("document.getElementById('pay').click()", while_navigating=None)
        outcome = await eventually(
            lambda: page.evaluate("(document.getElementById('outcome') || {dataset: {}}).dataset.outcome || null",
                                  while_navigating=None),
            lambda value: value is not None, what="the outcome page")
        assert outcome == "succeeded"

    credited = await eventually(lambda: service.get(MEMBERSHIP), lambda m: m["receives"]["purchased_remaining"] == 5,
                                what="the credit")
    assert credited["receives"]["balance"] == 8


@needs_chromium
async def test_a_screenshot_of_the_page_shows_a_qr_code_that_scans_as_the_pages_url(service, tmp_path):
    bought = await purchase(service)
    shot = tmp_path / "checkout.png"

    await chromium(tmp_path, f"--screenshot={shot}", bought["session"]["payment_url"])

    width, height, gray = png_grayscale(shot.read_bytes())
    assert (width, height) == (480, 760)
    assert min(gray) < 64 and max(gray) > 192  # something was drawn (dark modules on a light page)
    codes = zxingcpp.read_barcodes(zxingcpp.ImageView(gray, width, height, zxingcpp.ImageFormat.Lum),
                                   formats=zxingcpp.BarcodeFormat.QRCode)
    assert [code.text for code in codes] == [bought["session"]["payment_url"]]
    if SCREENSHOT_DIR:
        shutil.copyfile(shot, Path(SCREENSHOT_DIR) / "mock-checkout.png")


@needs_chromium
async def test_clicking_pay_in_chromium_pays_and_the_receives_are_credited(service, tmp_path):
    bought = await purchase(service, 5)

    async with devtools_page(tmp_path, bought["session"]["payment_url"]) as page:
        loaded = "location.href + ' ' + document.readyState"
        await eventually(lambda: page.evaluate(loaded), lambda s: s == f"{bought['session']['payment_url']} complete",
                         what="the checkout page to load")
        assert await page.evaluate("document.getElementById('amount').textContent") == "9.00 CNY"
        await page.evaluate("document.getElementById('pay').click()", while_navigating=None)
        outcome = await eventually(
            lambda: page.evaluate("(document.getElementById('outcome') || {dataset: {}}).dataset.outcome || null",
                                  while_navigating=None),
            lambda value: value is not None, what="the outcome page")
        assert outcome == "succeeded"

    credited = await eventually(lambda: service.get(MEMBERSHIP), lambda m: m["receives"]["purchased_remaining"] == 5,
                                what="the credit")
    assert credited["receives"]["balance"] == 8
    detail = await service.get(f"/api/v1/payments/transactions/{bought['transaction']['id']}")
    assert [s["status"] for s in detail["sessions"]] == ["completed"]


@pytest.fixture
async def merchant(aiohttp_server):
    """The merchant's site the payer returns to: it records the requests it gets."""
    visits: list[str] = []

    async def back(request: web.Request) -> web.Response:
        visits.append(str(request.rel_url))
        return web.Response(text="<!doctype html><title>back at the shop</title><p id=back>thanks</p>",
                            content_type="text/html")
    app = web.Application()
    app.router.add_get("/paid", back)
    port = free_port()
    await aiohttp_server(app, port=port)
    return f"http://127.0.0.1:{port}", visits


@needs_chromium
@pytest.mark.parametrize("button, language, status", [("pay", "en-US", "completed"), ("decline", "zh-CN", "failed")])
async def test_after_pay_or_decline_chromium_lands_on_the_return_url(service, tmp_path, merchant, button, language,
                                                                     status):
    shop, visits = merchant
    return_url = f"{shop}/paid?order=42"
    bought = await service.post(RECEIVES, {"amount": 5, "payment_method": "alipay", "return_url": return_url},
                                expect=201)
    payment_url = bought["session"]["payment_url"]

    async with devtools_page(tmp_path, payment_url, f"--accept-lang={language}") as page:
        await eventually(page.location, lambda href: href == payment_url, what="the checkout page to load")
        await page.evaluate(f"document.getElementById('{button}').click()", while_navigating=None)
        landed = await eventually(page.location, lambda href: href is not None and href != payment_url,
                                  what="the browser to leave the checkout page")
        assert landed == return_url
        assert await page.evaluate("document.title") == "back at the shop"

    assert visits == ["/paid?order=42"]  # the browser followed the 303 with a GET to it, once
    detail = await eventually(lambda: service.get(f"/api/v1/payments/transactions/{bought['transaction']['id']}"),
                              lambda d: d["sessions"][0]["status"] != "open", what="the notification")
    assert detail["sessions"][0]["status"] == status


# ---------------------------------------------------------------------- helpers
def png_grayscale(data: bytes) -> tuple[int, int, bytes]:
    """Decode an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes) to luminance bytes."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, idat, header = 8, [], None
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    width, height, depth, color, _, _, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    channels = 3 if color == 2 else 4
    stride = width * channels
    raw = zlib.decompress(b"".join(idat))
    previous = bytearray(stride)
    gray = bytearray()
    for row in range(height):
        kind = raw[row * (stride + 1)]
        line = bytearray(raw[row * (stride + 1) + 1:(row + 1) * (stride + 1)])
        if kind == 1:
            for i in range(channels, stride):
                line[i] = (line[i] + line[i - channels]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous))
        elif kind == 3:
            for i in range(stride):
                left = line[i - channels] if i >= channels else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - channels] if i >= channels else 0
                b, c = previous[i], previous[i - channels] if i >= channels else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        gray.extend((299 * line[i] + 587 * line[i + 1] + 114 * line[i + 2]) // 1000 for i in range(0, stride, channels))
        previous = line
    return width, height, bytes(gray)
