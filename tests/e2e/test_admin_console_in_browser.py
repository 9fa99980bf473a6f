"""The admin console in headless Chromium (Debian's `chromium`, over the DevTools protocol: the
helpers in `live`) against a real `payments serve` on SQLite with known data: three purchases paid
at the mock's checkout page (10 receives for 17.00, Pro for 29.00, VIP for 59.00), a user's refund
request of 2 receives (3.40), an admin's refund above the second-approval threshold and a purchase
declined above the daily amount (a risk flag).

Once on a desktop-sized window and once 390 px wide (a phone): sign in by pasting an admin token,
see the revenue chart drawn from those figures (the canvas, its legend, the series it was given
and the table of exact figures), the success rates and subscriptions; the refund queue shows both
refunds oldest first with the two-person rule (the signed-in admin issued the second one, so it
cannot approve it); approve the user's refund with a note, see it leave the queue and appear in
the audit log; look the user up; resolve the risk flag; once the refund succeeded the dashboard
shows it as refunded. The page never breaks its Content-Security-Policy, never scrolls sideways.
A token without the admin role, or no valid token, is refused at sign-in and not kept.
Screenshots go to `tmp_path` and, when PAYMENTS_TEST_SCREENSHOT_DIR is set, are copied there
(CI artefacts, docs/testing.md). Without Chromium the tests are skipped except under CI=true.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
import struct
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from entrypoints.cli import mint_token
from live import DevToolsPage, devtools_page, eventually, needs_chromium, pay_through_page, serve_process

RECEIVES = "/api/v1/payments/receives"
PLAN = "/api/v1/payments/plan"
REFUNDS = "/api/v1/payments/refunds"
ADMIN = "/api/v1/admin"
TZ = "Asia/Shanghai"
SCREENSHOT_DIR = os.environ.get("PAYMENTS_TEST_SCREENSHOT_DIR")
VIEWPORTS = {"desktop": {"width": 1280, "height": 900, "mobile": False},
             "phone": {"width": 390, "height": 844, "mobile": True}}
# The series' colours in revenue_chart.js, as RGB.
COLORS = {"receives": (0x1F, 0x6F, 0xD1), "pro": (0xD1, 0x73, 0x1F), "vip": (0x8A, 0x3F, 0xB8)}
# Collects every CSP violation of the page (DevTools runs it before the page's own scripts).
CSP_WATCH = ("window.__cspViolations = [];"
             "document.addEventListener('securitypolicyviolation',"
             " (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));")


async def call(service, method: str, path: str, body=None, *, user: str, role: str | None = None,
               expect: int = 200) -> dict:
    headers = {"Authorization": f"Bearer {mint_token(service.jwt_secret, user, role, 3600)}"}
    async with service.http.request(method, service.url(path), json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == expect, (response.status, answer)
        return answer


@pytest.fixture
async def known_data(tmp_path):
    """A service with three paid purchases, a user's refund request, a refund the admin `ops` issued
    that needs a second admin (threshold 10.00 CNY) and a risk flag."""
    async with aiohttp.ClientSession() as http, serve_process(
            http, tmp_path, PAYMENTS_REFUND_SECOND_APPROVAL_ABOVE="1000", PAYMENTS_RISK_DAILY_LIMIT="10000") as service:
        receives = await call(service, "POST", RECEIVES, {"amount": 10, "payment_method": "wechat_pay"},
                              user="u1", expect=201)
        pro = await call(service, "POST", PLAN, {"new_plan": "pro", "payment_method": "alipay"}, user="u2", expect=201)
        vip = await call(service, "POST", PLAN, {"new_plan": "vip", "payment_method": "alipay"}, user="u3", expect=201)
        for started in (receives, pro, vip):
            await pay_through_page(http, started["session"]["payment_url"])
        paid = {}
        for started, user in ((receives, "u1"), (pro, "u2"), (vip, "u3")):
            txn = started["transaction"]["id"]
            detail = await eventually(
                lambda: call(service, "GET", f"/api/v1/payments/transactions/{txn}", user=user),
                lambda d: d["transaction"]["status"] == "succeeded", what=f"{user}'s payment")
            paid[user] = detail["transaction"]
        asked = await call(service, "POST", REFUNDS, {"transaction_id": paid["u1"]["id"], "reason": "bought by mistake",
                                                      "receives": 2}, user="u1", expect=201)
        issued = await call(service, "POST", f"{ADMIN}/refunds", {"transaction_id": paid["u3"]["id"],
                                                                 "reason": "charged twice by the bank"},
                            user="ops", role="admin", expect=201)
        assert (asked["amount"], asked["status"], issued["kind"], issued["status"]) == (340, "requested", "admin",
                                                                                       "requested")
        declined = await call(service, "POST", RECEIVES, {"amount": 100, "payment_method": "alipay"}, user="u4",
                              expect=403)  # above the daily amount: declined and flagged
        assert declined["error"]["code"] == "risk_declined"
        yield service, paid, asked, issued


async def until(page: DevToolsPage, expression: str, condition=bool, what: str = "the page"):
    return await eventually(lambda: page.evaluate(expression, while_navigating=None), condition, what=what)


async def rows(page: DevToolsPage, table: str) -> list[list[str]]:
    return await page.evaluate(f"[...document.querySelectorAll('#{table} tbody tr')]"
                               ".map((r) => [...r.cells].map((c) => c.textContent))")


async def screenshot(page: DevToolsPage, path: Path, width: int) -> None:
    metrics = await page.call("Page.getLayoutMetrics")
    height = int(metrics["result"]["cssContentSize"]["height"])
    shot = await page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                           clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
    data = base64.b64decode(shot["result"]["data"])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (width, height)  # IHDR: the whole page, at its width
    path.write_bytes(data)
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(SCREENSHOT_DIR) / path.name)


async def series_pixels(page: DevToolsPage) -> dict[str, int]:
    """How many pixels of the chart's canvas are drawn in each series' colour."""
    counts = await page.evaluate(
        "(() => { const c = document.querySelector('#revenue-chart canvas');"
        " const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
        f" const colors = {json.dumps(COLORS)}; const counts = {{}};"
        " for (const [name, [r, g, b]] of Object.entries(colors)) { let n = 0;"
        "  for (let i = 0; i < d.length; i += 4) {"
        "   if (d[i + 3] > 200 && Math.abs(d[i] - r) < 40 && Math.abs(d[i + 1] - g) < 40 && Math.abs(d[i + 2] - b) < 40) n++; }"
        "  counts[name] = n; } return counts; })()")
    return counts


async def no_sideways_scroll(page: DevToolsPage, width: int) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= width


@needs_chromium
@pytest.mark.parametrize("viewport", ["desktop", "phone"])
async def test_sign_in_see_the_revenue_chart_approve_a_refund_and_find_it_in_the_audit_log(
        known_data, tmp_path, viewport):
    service, paid, asked, issued = known_data
    size = VIEWPORTS[viewport]
    day = datetime.fromisoformat(paid["u1"]["completed_at"].replace("Z", "+00:00")).astimezone(ZoneInfo(TZ)).date()

    async with devtools_page(tmp_path, "about:blank") as page:
        for method, params in (("Page.enable", {}),
                               ("Emulation.setDeviceMetricsOverride", {**size, "deviceScaleFactor": 1}),
                               ("Emulation.setTimezoneOverride", {"timezoneId": TZ}),
                               ("Page.addScriptToEvaluateOnNewDocument", {"source": CSP_WATCH})):
            assert "error" not in await page.call(method, **params), method
        await page.call("Page.navigate", url=service.url("/admin/"))

        # Sign in by pasting an admin token.
        await until(page, "document.body && document.body.dataset.page", lambda p: p == "sign-in", "the sign-in form")
        token = mint_token(service.jwt_secret, "ops", "admin", 3600)
        await page.evaluate(f"document.getElementById('token').value = {json.dumps(token)};"
                            "document.getElementById('sign-in-button').click()")
        await until(page, "document.body.dataset.loaded", lambda p: p == "dashboard", "the dashboard")
        assert await page.evaluate("sessionStorage.getItem('payments.admin.token')") == token
        assert await page.evaluate("document.getElementById('who-name').textContent") == "ops"

        # The revenue chart, from the known figures: one point per plan on the day they were paid.
        date_to = await page.evaluate("document.querySelector('#revenue-form [name=date_to]').value")
        assert await rows(page, "revenue-table") == [
            [day.isoformat(), "receives", "17.00 CNY", "0.00 CNY", "17.00 CNY", "1"],
            [day.isoformat(), "pro", "29.00 CNY", "0.00 CNY", "29.00 CNY", "1"],
            [day.isoformat(), "vip", "59.00 CNY", "0.00 CNY", "59.00 CNY", "1"]]
        chart = json.loads(await page.evaluate("document.getElementById('revenue-chart').dataset.series"))
        assert list(chart) == ["receives", "pro", "vip"]
        days_back = (datetime.fromisoformat(date_to).date() - day).days
        for plan, fen in (("receives", 1700), ("pro", 2900), ("vip", 5900)):
            assert len(chart[plan]) == 30 and chart[plan][29 - days_back] == fen and sum(chart[plan]) == fen
        assert await page.evaluate("[...document.querySelectorAll('#revenue-chart .u-legend .u-series th')]"
                                   ".map((th) => th.textContent.trim())") == ["Day", "receives", "pro", "vip"]
        canvas_width = await page.evaluate("document.querySelector('#revenue-chart canvas').getBoundingClientRect().width")
        assert 200 <= canvas_width <= size["width"]
        drawn = await series_pixels(page)
        assert all(count >= 20 for count in drawn.values()), drawn  # each plan's line is on the canvas

        # Success rates by provider and subscriptions, as the API computes them.
        (rate,) = (await call(service, "GET", f"{ADMIN}/analytics/success-rates", user="ops", role="admin"))["items"]
        assert (rate["provider"], rate["sessions"], rate["completed"]) == ("mock", 3, 3)
        assert await rows(page, "rates-table") == [
            ["mock", "3", "3", "0", "0", "0", "100.00 %", f"{rate['median_seconds_to_pay']} s"]]
        figures = await page.evaluate("Object.fromEntries([...document.querySelectorAll('#subscriptions > div')]"
                                      ".map((d) => [d.dataset.figure, d.querySelector('dd').textContent]))")
        assert (figures["Pro"], figures["VIP"], figures["MRR"], figures["Past due"]) == ("1", "1", "88.00 CNY", "0")
        await no_sideways_scroll(page, size["width"])
        await screenshot(page, tmp_path / f"admin-console-{viewport}-dashboard.png", size["width"])

        # The refund queue: oldest first, the two-person rule on the admin's refund.
        await page.evaluate("location.hash = '#refunds'")
        await until(page, "document.body.dataset.loaded", lambda p: p == "refunds", "the refund queue")
        queue = await page.evaluate(
            "[...document.querySelectorAll('#refund-queue > li')].map((li) => ({id: li.dataset.refundId,"
            " amount: li.querySelector('.amount').textContent, rule: li.querySelector('.rule').textContent,"
            " approvable: !li.querySelector('.approve').disabled}))")
        assert queue == [
            {"id": asked["id"], "amount": "3.40 CNY", "approvable": True,
             "rule": "Asked for by user u1; one admin's approval sends it."},
            {"id": issued["id"], "amount": "59.00 CNY", "approvable": False,  # ops issued it: another admin approves
             "rule": "Second approval needed: issued by you (first approval); another admin must approve it."}]
        assert await page.evaluate("document.getElementById('refund-count').textContent") == "2 refunds waiting."
        card = f"document.querySelector('[data-refund-id=\"{asked['id']}\"]')"
        right = await page.evaluate(f"{card}.querySelector('.approve').getBoundingClientRect().right")
        assert right <= size["width"]  # the button is on screen
        await no_sideways_scroll(page, size["width"])
        await screenshot(page, tmp_path / f"admin-console-{viewport}-refund-queue.png", size["width"])

        # Approve the user's refund with a note: it leaves the queue.
        await page.evaluate(f"{card}.querySelector('.note').value = 'checked with the user';"
                            f"{card}.querySelector('.approve').click()")
        await until(page, f"{card} === null && document.querySelectorAll('#refund-queue > li').length === 1",
                    what="the refund to leave the queue")
        assert await page.evaluate("document.getElementById('notice').textContent") == \
            f"Refund {asked['id']} approved: now processing."
        assert await page.evaluate("document.getElementById('refund-count').textContent") == "1 refund waiting."

        # The audit log has it: who approved it, with the note.
        await page.evaluate("location.hash = '#audit'")
        await until(page, "document.body.dataset.loaded", lambda p: p == "audit", "the audit log")
        entries = await page.evaluate(
            f"[...document.querySelectorAll('#audit-table tbody tr[data-object-id=\"{asked['id']}\"]')]"
            ".map((r) => [r.cells[1].textContent, r.cells[2].textContent, r.cells[4].textContent])")
        assert [entry[:2] for entry in entries] == [["ops", "refund.approved"], ["u1", "refund.requested"]]
        assert "checked with the user" in entries[0][2]
        await no_sideways_scroll(page, size["width"])
        await screenshot(page, tmp_path / f"admin-console-{viewport}-audit-log.png", size["width"])

        # The user's page: membership, the purchase and the refund, as the admin API answers them.
        await page.evaluate("location.hash = '#users'")
        await until(page, "document.body.dataset.loaded", lambda p: p == "users", "the user lookup")
        await page.evaluate("document.querySelector('#user-form [name=user_id]').value = 'u1';"
                            "document.querySelector('#user-form button').click()")
        await until(page, "document.getElementById('user-membership') !== null", what="the user's membership")
        user = await call(service, "GET", f"{ADMIN}/users/u1", user="ops", role="admin")
        shown = await page.evaluate("Object.fromEntries([...document.querySelectorAll('#user-membership > div')]"
                                    ".map((d) => [d.dataset.figure, d.querySelector('dd').textContent]))")
        assert (shown["Plan"], shown["Receives"], shown["Purchased left"]) == (
            "basic", str(user["membership"]["receives"]["balance"]), "8")
        tables = await page.evaluate("[...document.querySelectorAll('#user-result table')].map((t) =>"
                                     " [...t.tBodies[0].rows].map((r) => r.textContent))")
        assert [len(rows_) for rows_ in tables] == [1, 1, 1]
        assert paid["u1"]["id"] in tables[0][0] and "17.00 CNY" in tables[0][0]
        assert asked["id"] in tables[1][0] and "3.40 CNY" in tables[1][0]
        assert tables[2] == ["No risk flags."]

        # Risk flags: u4's, open; resolved with a note, it leaves the open ones.
        await page.evaluate("location.hash = '#risk'")
        await until(page, "document.body.dataset.loaded", lambda p: p == "risk", "the risk flags")
        assert await page.evaluate("document.getElementById('risk-count').textContent") == "1 flag."
        flag = await page.evaluate("(() => { const li = document.querySelector('#risk-flags > li');"
                                   " return {id: li.dataset.flagId, title: li.querySelector('h3').textContent}; })()")
        assert flag["title"] == "daily_amount u4"
        await no_sideways_scroll(page, size["width"])
        await page.evaluate("document.querySelector('#risk-flags .note').value = 'a known customer';"
                            "document.querySelector('#risk-flags .resolve').click()")
        await until(page, "document.getElementById('risk-count').textContent", lambda text: text == "0 flags.",
                    "the flag to leave the open ones")
        (resolved,) = (await call(service, "GET", f"{ADMIN}/risk/flags", user="ops", role="admin"))["items"]
        assert (resolved["id"], resolved["resolved_by"], resolved["note"]) == (flag["id"], "ops", "a known customer")

        # Once the mock settled it, the dashboard counts it as refunded.
        await eventually(lambda: call(service, "GET", f"{ADMIN}/refunds", user="ops", role="admin"),
                         lambda page_: any(r["id"] == asked["id"] and r["status"] == "succeeded"
                                           for r in page_["items"]), what="the refund to succeed")
        await page.evaluate("location.hash = '#dashboard'")
        await until(page, "document.body.dataset.loaded", lambda p: p == "dashboard", "the dashboard again")
        assert (await rows(page, "revenue-table"))[0] == \
            [day.isoformat(), "receives", "17.00 CNY", "3.40 CNY", "13.60 CNY", "1"]

        assert await page.evaluate("window.__cspViolations") == []


@needs_chromium
async def test_a_token_without_the_admin_role_or_no_valid_token_is_refused_at_sign_in(tmp_path):
    async with aiohttp.ClientSession() as http, serve_process(http, tmp_path) as service, \
            devtools_page(tmp_path, service.url("/admin/")) as page:
        await until(page, "document.body && document.body.dataset.page", lambda p: p == "sign-in", "the sign-in form")
        for token, notice in ((mint_token(service.jwt_secret, "u1", None, 3600), "This token has no admin role."),
                              ("not-a-token", "The bearer token is missing, expired or invalid. (401 unauthorized)")):
            await page.evaluate("document.getElementById('notice').hidden = true;"
                                f"document.getElementById('token').value = {json.dumps(token)};"
                                "document.getElementById('sign-in-button').click()")
            shown = await until(page, "document.getElementById('notice').hidden ? null :"
                                      " document.getElementById('notice').textContent", what="the refusal")
            assert shown.startswith(notice), shown
            assert await page.evaluate("sessionStorage.getItem('payments.admin.token')") is None
            assert await page.evaluate("document.body.dataset.page") == "sign-in"
            assert await page.evaluate("document.getElementById('nav').hidden") is True
