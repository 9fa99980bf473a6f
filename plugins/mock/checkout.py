"""The mock provider's hosted checkout page, `/mock-checkout/{session_id}` (development only),
served through the port's page hook: `MockProvider.web_routes()` returns `routes(provider)`.

GET shows the amount, the order, its QR code and two buttons; POST (form field `outcome` =
`succeeded` | `failed`) settles the order at the mock, which sends its signed notification to
the webhook at once and re-sends it until acknowledged, and answers with a page showing the
outcome. An order that was closed (its session cancelled or expired) can no longer be paid (409),
as at a real provider, even from a page that was opened before it closed. The page stands for
the provider's own site, so it needs no bearer token; like that site it draws its own QR code
(with zxing-cpp), which encodes the session's `payment_url`.

A session this mock does not know is answered `HTTPNotFound`, which lets the app try the same
page of another loaded mock (the in-memory set-up registers one under every provider name).
"""
from __future__ import annotations

import base64
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
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mock checkout – {order_id}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}}
.amount{{font-size:2rem;font-weight:600}} img{{width:220px;height:220px}} button{{font-size:1.1rem;padding:.6rem 1.4rem;margin-right:.5rem}}
.pay{{background:#1a7f37;color:#fff;border:0}} .decline{{background:#eee;border:1px solid #aaa}}</style></head>
<body><h1>Mock payment</h1>
<p class="amount" id="amount">{amount}</p>
<p>{description}<br>Order <code id="order">{order_id}</code> · {method}</p>
{body}
</body></html>"""


def routes(mock: MockProvider) -> list[web.RouteDef]:
    """The page's routes, answering for the orders of `mock`."""

    def find(request: web.Request) -> MockOrder:
        found = mock.order_for_session(request.match_info["session_id"])
        if found is None:
            raise web.HTTPNotFound(text="No such checkout.", content_type="text/plain")
        return found

    async def show(request: web.Request) -> web.Response:
        found = find(request)
        if found.state is not PaymentState.PENDING:
            return _page(found, f'<p id="outcome">This order is {html.escape(found.state.value)}.</p>')
        url = html.escape(str(request.url.with_query(None)))
        qr_code = qr_code_image(mock.checkout_url(found.order.session_id))
        return _page(found, f'''<p><img id="qr" alt="QR code of this page" src="{qr_code}"></p>
<form method="post" action="{url}">
<button class="pay" name="outcome" value="succeeded" id="pay">Pay</button>
<button class="decline" name="outcome" value="failed" id="decline">Decline</button>
</form>''')

    async def submit(request: web.Request) -> web.Response:
        found = find(request)
        outcome = (await request.post()).get("outcome")
        if outcome not in OUTCOMES:
            return _page(found, '<p id="outcome">Choose Pay or Decline.</p>', status=422)
        if found.state is PaymentState.CLOSED:  # a real provider refuses to take money for a closed order
            return _page(found, '<p id="outcome">This order is closed and can no longer be paid.</p>', status=409)
        settled = mock.checkout(found.order.session_id, OUTCOMES[outcome])
        text = "Payment succeeded." if settled.state is PaymentState.SUCCEEDED else "Payment declined."
        return _page(settled, f'<p id="outcome" data-outcome="{settled.state.value}">{text}</p>')

    return [web.get(PATH, show, allow_head=False), web.post(PATH, submit)]


@lru_cache(maxsize=64)
def qr_code_image(payload: str) -> str:
    """An SVG data URI of a QR code for `payload`: zxing-cpp's own SVG, given a `viewBox` so that
    it scales to the size the page shows it at."""
    import zxingcpp

    svg = zxingcpp.create_barcode(payload, zxingcpp.BarcodeFormat.QRCode).to_svg(add_quiet_zones=True)
    svg = re.sub(r'<svg width="(\d+)" height="(\d+)"', r'<svg viewBox="0 0 \1 \2"', svg, count=1)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _page(found: MockOrder, body: str, status: int = 200) -> web.Response:
    order = found.order
    return web.Response(status=status, content_type="text/html", text=_PAGE.format(
        order_id=html.escape(order.order_id), amount=html.escape(order.amount.format()),
        description=html.escape(order.description), method=html.escape(order.payment_method), body=body))
