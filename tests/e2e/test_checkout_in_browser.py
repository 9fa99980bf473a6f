"""The mock's checkout page on a live `payments serve` process, as a payer's browser sees it.

The first test needs no browser: `payments serve --port P` without PAYMENTS_PUBLIC_URL hands out
payment URLs on port P that work. The others drive headless Chromium (Debian's `chromium`, through
its command line and the DevTools protocol): the page's DOM shows the amount, the order, the QR
code and both buttons; a screenshot renders a QR code that a scanner reads back as the page's own
URL; and clicking Pay in the browser credits the receives. Without Chromium they are skipped,
with the reason: the browser is an optional layer of these tests.
"""
from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import zlib
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
import zxingcpp

from live import CheckoutPage, eventually, open_checkout, pay_through_page, serve_process
from qr_reading import read_qr

RECEIVES = "/api/v1/payments/receives"
MEMBERSHIP = "/api/v1/payments/membership"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=480,760")
# Outside CI a machine without Chromium skips these; CI (`.ci/run` installs it) never does.
needs_chromium = pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI", "").lower() != "true",
                                    reason="Chromium is not installed (`apt-get install chromium`)")
# Where the screenshot is kept for a human to look at (set PAYMENTS_TEST_SCREENSHOT_DIR to keep it).
SCREENSHOT_DIR = os.environ.get("PAYMENTS_TEST_SCREENSHOT_DIR")


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
async def chromium(tmp_path: Path, *args: str, timeout: float = 60) -> bytes:
    """Run Chromium headless once (a profile of its own); its stdout."""
    assert CHROMIUM is not None, "CI=true: Chromium must be installed (.ci/run installs Debian's chromium)"
    profile = tmp_path / f"profile-{os.urandom(4).hex()}"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


@needs_chromium
async def test_the_page_in_chromium_shows_the_amount_the_order_the_qr_code_and_both_buttons(service, tmp_path):
    bought = await purchase(service)

    dom = (await chromium(tmp_path, "--dump-dom", bought["session"]["payment_url"])).decode()

    page = CheckoutPage.parse(200, "text/html", dom)
    assert page.title == f"Mock checkout – {bought['session']['order_id']}"
    assert page.text_of("amount") == "17.00 CNY"
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


# ---------------------------------------------------------------------- helpers
class DevToolsPage:
    """One page of a Chromium driven over the DevTools protocol (a WebSocket)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._next_id = 0

    async def evaluate(self, expression: str, **options):
        """The value of `expression` in the page. With `while_navigating=X`, X when the page is
        being replaced (the form was submitted) and the expression could not run."""
        self._next_id += 1
        await self._socket.send_json({"id": self._next_id, "method": "Runtime.evaluate",
                                      "params": {"expression": expression, "returnByValue": True}})
        while True:
            message = json.loads((await asyncio.wait_for(self._socket.receive(), 10)).data)
            if message.get("id") == self._next_id:
                break
        if "while_navigating" in options and _navigating(message):
            return options["while_navigating"]
        assert "error" not in message and "exceptionDetails" not in message["result"], message
        return message["result"]["result"].get("value")


def _navigating(message: dict) -> bool:
    error = message.get("error") or {}
    return "navigated" in error.get("message", "") or "Execution context was destroyed" in json.dumps(message)


@asynccontextmanager
async def devtools_page(tmp_path: Path, url: str):
    """Chromium opened at `url`, listening for the DevTools protocol on a port of its choosing."""
    profile = tmp_path / "devtools-profile"
    process = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            active = profile / "DevToolsActivePort"

            async def port() -> int | None:
                assert process.poll() is None, f"chromium exited with {process.returncode}"
                lines = active.read_text().split() if active.exists() else []
                return int(lines[0]) if lines else None
            devtools = await eventually(port, bool, timeout=30, what="Chromium's DevTools port")

            async def page_target() -> str | None:
                async with http.get(f"http://127.0.0.1:{devtools}/json/list") as response:
                    targets = await response.json()
                return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
            target = await eventually(page_target, bool, what="the page target")
            async with http.ws_connect(target, max_msg_size=0) as socket:
                yield DevToolsPage(socket)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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
