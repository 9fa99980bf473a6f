"""The mock provider's hosted checkout page, `/mock-checkout/{session_id}` (development only),
served through the port's page hook: `MockProvider.web_routes()` returns `routes(provider)`.

GET shows what a provider's page shows: the method the payer chose by its display name, the
amount with its breakdown (the order's `lines`: receives and their discount, or the new plan and
the credit for the current one, then the total), a countdown to the order's expiry, a QR code (for
the `qr_code` flow only) and two buttons. It fits the order's flow (`<body data-flow>`): `qr_code`
shows the code to scan, `redirect` the desktop page without one, `mobile_redirect` a phone's page
(full-width, larger buttons); POST (form field `outcome` = `succeeded` | `failed`, and the optional
`card` = `ok` (default) | `declines` | `requires_action`: what the method does once saved, see
`provider`) settles the order at the mock, which sends its signed notification to the webhook at once and re-sends it until
acknowledged. Then it answers 303 to the order's `return_url` when it has one (as Stripe Checkout
sends the payer back to `success_url`), else a page showing the outcome. An order that was closed
(its session cancelled or expired) can no longer be paid (409), as at a real provider, even from a
page that was opened before it closed. The page stands for the provider's own site, so it needs no
bearer token; like that site it draws its own QR code (with zxing-cpp), which encodes the
session's `payment_url`.

Language: Simplified Chinese when `Accept-Language` asks for it (`zh-CN`, `zh`), else English
(`texts`); `<html lang>` says which, and the answers carry `Vary: Accept-Language`. The countdown
is a small inline script; without it the page says until when the order can be paid (UTC), and
works all the same.

Hardened as a provider's page is: every URL on it comes from the configured public URL (never
the request's Host or query), a Content-Security-Policy loads nothing from elsewhere, runs only
the countdown script (by its hash) and forbids framing (`frame-ancestors 'none'`); forms post
only to the public URL, and the redirect after one only to the order's `return_url` (whose host
the service checked when the session was opened). The form carries a token (an HMAC of the
session id with the mock's secret, `MockProvider.checkout_form_token`) in its action URL, so that
any client that posts the page's own form sends it and a cross-site form, which cannot read the
page, does not: a post without it is refused (403) and settles nothing.

A session this mock does not know is answered `HTTPNotFound`, which lets the app try the same
page of another loaded mock (the in-memory set-up registers one under every provider name).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from datetime import timezone
from functools import lru_cache
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from aiohttp import web

from plugins.mock.provider import CARDS, order_flow
from plugins.mock.texts import Texts, texts
from ports.payment_provider import Flow, PaymentState

if TYPE_CHECKING:
    from plugins.mock.provider import MockProvider
    from plugins.mock.remote import MockOrder

PATH = "/mock-checkout/{session_id}"
OUTCOMES = {"succeeded": True, "failed": False}
_STYLE = """body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
.amount{font-size:2rem;font-weight:600;margin:.2rem 0} img{width:220px;height:220px}
button{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.5rem}
.pay{background:#1a7f37;color:#fff;border:0} .decline{background:#eee;border:1px solid #aaa}
table{border-collapse:collapse;width:100%} th{text-align:left;font-weight:400} td{text-align:right}
th,td{padding:.15rem 0} .total th,.total td{font-weight:600;border-top:1px solid #ccc}
.countdown{color:#555}
.flow-mobile_redirect{max-width:none;margin:1rem auto;font-size:1.15rem}
.flow-mobile_redirect button{display:block;width:100%;margin:.6rem 0;padding:1rem;font-size:1.3rem}"""
# Counts down to `data-expires-at` once a second; the page works without it.
_SCRIPT = """(function () {
  var clock = document.getElementById("countdown");
  var end = Date.parse(clock.dataset.expiresAt);
  function tick() {
    var left = Math.max(0, Math.floor((end - Date.now()) / 1000));
    if (left === 0) { clock.textContent = clock.dataset.expired; return; }
    var seconds = left % 60;
    clock.textContent = clock.dataset.label + " " + Math.floor(left / 60) + ":" + (seconds < 10 ? "0" : "") + seconds;
    setTimeout(tick, 1000 - (Date.now() % 1000));
  }
  tick();
})();"""


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


_STYLE_HASH = _digest(_STYLE)
_SCRIPT_HASH = _digest(_SCRIPT)
_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>""" + _STYLE.replace("{", "{{").replace("}", "}}") + """</style></head>
<body id="checkout" class="flow-{flow}" data-flow="{flow}"><h1>{heading}</h1>
<p class="method">{pay_with}</p>
<p class="amount" id="amount">{amount}</p>
{breakdown}
<p>{description}{order} <code id="order">{order_id}</code></p>
{body}
</body></html>"""


def routes(mock: MockProvider) -> list[web.RouteDef]:
    """The page's routes, answering for the orders of `mock`."""

    def page(request: web.Request, found: MockOrder, body: str, status: int = 200) -> web.Response:
        return _page(found, texts(request.headers.get("Accept-Language")), body, status, _headers(mock, found))

    def find(request: web.Request) -> MockOrder:
        found = mock.order_for_session(request.match_info["session_id"])
        if found is None:
            raise web.HTTPNotFound(text="No such checkout.", content_type="text/plain")
        return found

    async def show(request: web.Request) -> web.Response:
        found = find(request)
        said = texts(request.headers.get("Accept-Language"))
        if found.state is not PaymentState.PENDING:
            return page(request, found, f'<p id="outcome">{html.escape(said.state[found.state.value])}</p>')
        session_id = found.order.session_id
        action = html.escape(f"{mock.checkout_url(session_id)}?token={mock.checkout_form_token(session_id)}")
        # Only a code to scan shows one (it encodes the session's payment_url): a redirect flow's
        # payer is on this page already.
        qr = ""
        if order_flow(found.order) is Flow.QR_CODE:
            image = qr_code_image(mock.checkout_url(session_id))
            qr = f'<p><img id="qr" alt="{html.escape(said.qr_alt)}" src="{image}"></p>'
        expires_at = found.order.expires_at.astimezone(timezone.utc)
        return page(request, found, f'''<p class="countdown" id="countdown" data-expires-at="{expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}"
 data-label="{html.escape(said.time_left)}" data-expired="{html.escape(said.expired)}">{html.escape(
            said.pay_before.format(time=expires_at.strftime("%Y-%m-%d %H:%M:%S UTC")))}</p>
{qr}
<form method="post" action="{action}">
<p><label for="card">{html.escape(said.card)}</label>
<select name="card" id="card">{"".join(f'<option value="{card}">{html.escape(said.cards[card])}</option>' for card in CARDS)}</select></p>
<button class="pay" name="outcome" value="succeeded" id="pay">{html.escape(said.pay)}</button>
<button class="decline" name="outcome" value="failed" id="decline">{html.escape(said.decline)}</button>
</form>
<script>{_SCRIPT}</script>''')

    async def submit(request: web.Request) -> web.Response:
        found = find(request)
        said = texts(request.headers.get("Accept-Language"))
        form = await request.post()
        token = request.query.get("token") or form.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), mock.checkout_form_token(found.order.session_id).encode()):
            return page(request, found, f'<p id="outcome">{html.escape(said.not_this_form)}</p>', status=403)
        outcome = form.get("outcome")
        if outcome not in OUTCOMES:
            return page(request, found, f'<p id="outcome">{html.escape(said.choose)}</p>', status=422)
        card = form.get("card") or "ok"
        if card not in CARDS:
            return page(request, found, f'<p id="outcome">{html.escape(said.choose)}</p>', status=422)
        if found.state is PaymentState.CLOSED:  # a real provider refuses to take money for a closed order
            return page(request, found, f'<p id="outcome">{html.escape(said.closed)}</p>', status=409)
        settled = mock.checkout(found.order.session_id, OUTCOMES[outcome], card)
        if settled.order.return_url:  # back to the merchant, as a provider's page does
            return web.Response(status=303, headers={**_headers(mock, settled), "Location": settled.order.return_url})
        text = said.paid if settled.state is PaymentState.SUCCEEDED else said.declined
        return page(request, settled,
                    f'<p id="outcome" data-outcome="{settled.state.value}">{html.escape(text)}</p>')

    return [web.get(PATH, show, allow_head=False), web.post(PATH, submit)]


@lru_cache(maxsize=64)
def qr_code_image(payload: str) -> str:
    """An SVG data URI of a QR code for `payload`: zxing-cpp's own SVG, given a `viewBox` so that
    it scales to the size the page shows it at."""
    import zxingcpp

    svg = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_svg(add_quiet_zones=True)
    svg = re.sub(r'<svg width="(\d+)" height="(\d+)"', r'<svg viewBox="0 0 \1 \2"', svg, count=1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _headers(mock: MockProvider, found: MockOrder) -> dict[str, str]:
    """No framing (clickjacking), nothing loaded from elsewhere, only the countdown script, the
    form posted only to the public URL (and the redirect after it only to the order's return
    URL), no Referer carrying the form's token; and the page's language follows the request's."""
    form_action = mock.public_origin
    if found.order.return_url:
        parts = urlsplit(found.order.return_url)
        form_action += f" {parts.scheme}://{parts.netloc}"  # browsers check a form's redirect against it too
    policy = (f"default-src 'none'; img-src data:; style-src 'sha256-{_STYLE_HASH}'; "
              f"script-src 'sha256-{_SCRIPT_HASH}'; form-action {form_action}; frame-ancestors 'none'; "
              "base-uri 'none'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store", "Vary": "Accept-Language"}


def _page(found: MockOrder, said: Texts, body: str, status: int, headers: dict[str, str]) -> web.Response:
    order = found.order
    method = f'<strong id="method">{html.escape(said.method(order.payment_method))}</strong>'
    return web.Response(status=status, content_type="text/html", headers={**headers, "Content-Language": said.lang},
                        text=_PAGE.format(
        flow=order_flow(order).value,
        lang=said.lang, title=html.escape(said.title.format(order_id=order.order_id)), heading=html.escape(said.heading),
        pay_with=html.escape(said.pay_with).replace("{method}", method), amount=html.escape(order.amount.format()),
        breakdown=_breakdown(found, said), order=html.escape(said.order), order_id=html.escape(order.order_id),
        description="" if order.lines else f"{html.escape(order.description)}<br>", body=body))


def _breakdown(found: MockOrder, said: Texts) -> str:
    """The order's lines and its total as a table (nothing when the order has no lines)."""
    order = found.order
    if not order.lines:
        return ""
    rows = []
    for line in order.lines:
        amount = ("−" if line.kind.reduces else "") + line.amount.format()
        rows.append(f'<tr id="line-{line.kind.value}"><th id="line-{line.kind.value}-label">'
                    f'{html.escape(said.line(line))}</th><td id="line-{line.kind.value}-amount">{html.escape(amount)}</td></tr>')
    rows.append(f'<tr class="total" id="line-total"><th id="line-total-label">{html.escape(said.total)}</th>'
                f'<td id="line-total-amount">{html.escape(order.amount.format())}</td></tr>')
    return '<table id="breakdown">' + "".join(rows) + "</table>"
