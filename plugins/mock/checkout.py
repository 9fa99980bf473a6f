"""The mock provider's hosted checkout page, `/mock-checkout/{session_id}` (development only),
served through the port's page hook: `MockProvider.web_routes()` returns `routes(provider)`.

GET shows the amount, the order, its QR code and two buttons; POST (form field `outcome` =
`succeeded` | `failed`) settles the order at the mock, which sends its signed notification to
the webhook at once and re-sends it until acknowledged, and answers with a page showing the
outcome. An order that was closed (its session cancelled or expired) can no longer be paid (409),
as at a real provider, even from a page that was opened before it closed. The page stands for
the provider's own site, so it needs no bearer token; like that site it draws its own QR code
(with zxing-cpp), which encodes the session's `payment_url`.

Hardened as a provider's page is: every URL on it comes from the configured public URL (never
the request's Host or query), a Content-Security-Policy loads nothing from elsewhere and forbids
framing (`frame-ancestors 'none'`), and the form carries a token (an HMAC of the session id with
the mock's secret, `MockProvider.checkout_form_token`) in its action URL, so that any client
that posts the page's own form sends it and a cross-site form, which cannot read the page, does
not: a post without it is refused (403) and settles nothing.

A session this mock does not know is answered `HTTPNotFound`, which lets the app try the same
page of another loaded mock (the in-memory set-up registers one under every provider name).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING

from aiohttp import web

from ports.payment_provider import PaymentState

if TYPE_CHECKING:
    from plugins.mock.provider import MockProvider
    from plugins.mock.remote import MockOrder

PATH = "/mock-checkout/{session_id}"
OUTCOMES = {"succeeded": True, "failed": False}
_STYLE = """body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
.amount{font-size:2rem;font-weight:600} img{width:220px;height:220px} button{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.5rem}
.pay{background:#1a7f37;color:#fff;border:0} .decline{background:#eee;border:1px solid #aaa}"""
_STYLE_HASH = base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mock checkout – {order_id}</title>
<style>""" + _STYLE.replace("{", "{{").replace("}", "}}") + """</style></head>
<body><h1>Mock payment</h1>
<p class="amount" id="amount">{amount}</p>
<p>{description}<br>Order <code id="order">{order_id}</code> · {method}</p>
{body}
</body></html>"""


def routes(mock: MockProvider) -> list[web.RouteDef]:
    """The page's routes, answering for the orders of `mock`."""
    headers = _headers(mock)

    def page(found: MockOrder, body: str, status: int = 200) -> web.Response:
        return _page(found, body, status, headers)

    def find(request: web.Request) -> MockOrder:
        found = mock.order_for_session(request.match_info["session_id"])
        if found is None:
            raise web.HTTPNotFound(text="No such checkout.", content_type="text/plain")
        return found

    async def show(request: web.Request) -> web.Response:
        found = find(request)
        if found.state is not PaymentState.PENDING:
            return page(found, f'<p id="outcome">This order is {html.escape(found.state.value)}.</p>')
        session_id = found.order.session_id
        action = html.escape(f"{mock.checkout_url(session_id)}?token={mock.checkout_form_token(session_id)}")
        qr_code = qr_code_image(mock.checkout_url(session_id))
        return page(found, f'''<p><img id="qr" alt="QR code of this page" src="{qr_code}"></p>
<form method="post" action="{action}">
<button class="pay" name="outcome" value="succeeded" id="pay">Pay</button>
<button class="decline" name="outcome" value="failed" id="decline">Decline</button>
</form>''')

    async def submit(request: web.Request) -> web.Response:
        found = find(request)
        form = await request.post()
        token = request.query.get("token") or form.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(
                token.encode(), mock.checkout_form_token(found.order.session_id).encode()):
            return page(found, '<p id="outcome">This form did not come from this checkout page.</p>', status=403)
        outcome = form.get("outcome")
        if outcome not in OUTCOMES:
            return page(found, '<p id="outcome">Choose Pay or Decline.</p>', status=422)
        if found.state is PaymentState.CLOSED:  # a real provider refuses to take money for a closed order
            return page(found, '<p id="outcome">This order is closed and can no longer be paid.</p>', status=409)
        settled = mock.checkout(found.order.session_id, OUTCOMES[outcome])
        text = "Payment succeeded." if settled.state is PaymentState.SUCCEEDED else "Payment declined."
        return page(settled, f'<p id="outcome" data-outcome="{settled.state.value}">{text}</p>')

    return [web.get(PATH, show, allow_head=False), web.post(PATH, submit)]


@lru_cache(maxsize=64)
def qr_code_image(payload: str) -> str:
    """An SVG data URI of a QR code for `payload`: zxing-cpp's own SVG, given a `viewBox` so that
    it scales to the size the page shows it at."""
    import zxingcpp

    svg = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_svg(add_quiet_zones=True)
    svg = re.sub(r'<svg width="(\d+)" height="(\d+)"', r'<svg viewBox="0 0 \1 \2"', svg, count=1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _headers(mock: MockProvider) -> dict[str, str]:
    """No framing (clickjacking), nothing loaded from elsewhere, the form posted only to the
    public URL, and no Referer carrying the form's token."""
    policy = (f"default-src 'none'; img-src data:; style-src 'sha256-{_STYLE_HASH}'; "
              f"form-action {mock.public_origin}; frame-ancestors 'none'; base-uri 'none'")
    return {"Content-Security-Policy": policy, "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


def _page(found: MockOrder, body: str, status: int, headers: dict[str, str]) -> web.Response:
    order = found.order
    return web.Response(status=status, content_type="text/html", headers=headers, text=_PAGE.format(
        order_id=html.escape(order.order_id), amount=html.escape(order.amount.format()),
        description=html.escape(order.description), method=html.escape(order.payment_method), body=body))
