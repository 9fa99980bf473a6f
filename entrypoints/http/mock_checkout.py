"""The mock provider's hosted checkout page, `/mock-checkout/{session_id}` (development only).

GET shows the amount, the order, its QR code and two buttons; POST (form field `outcome` =
`succeeded` | `failed`) settles the order at the mock, which sends its signed notification to
the webhook at once and re-sends it until acknowledged, and answers with a page showing the
outcome. An order that was closed (its session cancelled or expired) can no longer be paid (409),
as at a real provider, even from a page that was opened before it closed. The page stands for
the provider's own site, so it needs no bearer token.
"""
from __future__ import annotations

import html

from aiohttp import web

from entrypoints.http.keys import PROVIDERS
from entrypoints.http.render import qr_code_image
from plugins.mock import MockProvider
from plugins.mock.remote import MockOrder
from ports.payment_provider import PaymentState

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


def _mocks(request: web.Request) -> list[MockProvider]:
    return [p for p in request.app[PROVIDERS].providers.values() if isinstance(p, MockProvider)]


def _find(request: web.Request) -> tuple[MockProvider, MockOrder]:
    session_id = request.match_info["session_id"]
    for mock in _mocks(request):
        found = mock.order_for_session(session_id)
        if found is not None:
            return mock, found
    raise web.HTTPNotFound(text="No such checkout.", content_type="text/plain")


def _page(found: MockOrder, body: str, status: int = 200) -> web.Response:
    order = found.order
    return web.Response(status=status, content_type="text/html", text=_PAGE.format(
        order_id=html.escape(order.order_id), amount=html.escape(order.amount.format()),
        description=html.escape(order.description), method=html.escape(order.payment_method), body=body))


async def show(request: web.Request) -> web.Response:
    _, found = _find(request)
    if found.state is not PaymentState.PENDING:
        return _page(found, f'<p id="outcome">This order is {html.escape(found.state.value)}.</p>')
    url = html.escape(str(request.url.with_query(None)))
    return _page(found, f'''<p><img id="qr" alt="QR code of this page" src="{qr_code_image(str(request.url))}"></p>
<form method="post" action="{url}">
<button class="pay" name="outcome" value="succeeded" id="pay">Pay</button>
<button class="decline" name="outcome" value="failed" id="decline">Decline</button>
</form>''')


async def submit(request: web.Request) -> web.Response:
    mock, found = _find(request)
    outcome = (await request.post()).get("outcome")
    if outcome not in OUTCOMES:
        return _page(found, '<p id="outcome">Choose Pay or Decline.</p>', status=422)
    if found.state is PaymentState.CLOSED:  # a real provider refuses to take money for a closed order
        return _page(found, '<p id="outcome">This order is closed and can no longer be paid.</p>', status=409)
    settled = mock.checkout(found.order.session_id, OUTCOMES[outcome])
    text = "Payment succeeded." if settled.state is PaymentState.SUCCEEDED else "Payment declined."
    return _page(settled, f'<p id="outcome" data-outcome="{settled.state.value}">{text}</p>')


def add_routes(app: web.Application) -> None:
    app.router.add_get("/mock-checkout/{session_id}", show, allow_head=False)
    app.router.add_post("/mock-checkout/{session_id}", submit)
