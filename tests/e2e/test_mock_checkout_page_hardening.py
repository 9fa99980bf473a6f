"""Issue 11, item 11: the mock's hosted checkout page as an attacker would try it. Its URLs come
from the configured public URL (never the request's Host), it may not be framed, a long query
string changes nothing (the QR code encodes the session's `payment_url`), and a post that does not
carry the page's own form token (a cross-site form) is refused and settles nothing."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from e2e_support import buy, session
from live import open_checkout, submit_checkout
from ports.payment_provider import PaymentState
from qr_reading import read_qr


async def get_page(browser, url: str, **headers: str):
    from live import CheckoutPage
    async with browser.get(url, headers=headers) as response:
        page = CheckoutPage.parse(response.status, response.content_type, await response.text())
        return page, response.headers


async def test_the_pages_urls_come_from_the_public_url_not_the_host_header(live_api, browser):
    url = (await buy(live_api, 10))["session"]["payment_url"]

    page, _ = await get_page(browser, url, Host="evil.example")

    assert page.status == 200 and "evil.example" not in page.html
    (form,) = page.forms
    assert urlsplit(form["action"])._replace(query="").geturl() == url
    assert read_qr(page.elements["qr"].attrs["src"]) == [url]


async def test_the_page_may_not_be_framed_and_loads_nothing_from_elsewhere(live_api, browser):
    url = (await buy(live_api, 10))["session"]["payment_url"]

    _, headers = await get_page(browser, url)

    policy = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split("; ")}
    assert policy["frame-ancestors"] == ["'none'"] and policy["default-src"] == ["'none'"]
    assert policy["form-action"] == [live_api.base_url]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"  # the form token is in the form's URL


async def test_a_long_query_string_changes_nothing_on_the_page(live_api, browser):
    url = (await buy(live_api, 10))["session"]["payment_url"]

    page, _ = await get_page(browser, url + "?" + "q" * 6000 + "&token=forged")

    assert page.status == 200 and page.payable
    assert read_qr(page.elements["qr"].attrs["src"]) == [url]
    assert "qqqq" not in page.html and "forged" not in page.html


async def test_a_post_without_the_pages_form_token_is_refused_and_settles_nothing(live_api, browser):
    bought = await buy(live_api, 10)
    other = await buy(live_api, 5, user="u2")
    url = bought["session"]["payment_url"]
    page = await open_checkout(browser, url)
    token = parse_qs(urlsplit(page.forms[0]["action"]).query)["token"][0]
    other_token = parse_qs(urlsplit((await open_checkout(browser, other["session"]["payment_url"])).forms[0]["action"]
                                    ).query)["token"][0]

    altered = token[:-1] + ("1" if token.endswith("0") else "0")
    for forged in (url, f"{url}?token=", f"{url}?token={altered}", f"{url}?token={other_token}"):
        refused = await submit_checkout(browser, forged, "succeeded")
        assert refused.status == 403 and refused.outcome == "This form did not come from this checkout page.", forged

    assert live_api.mock.order_for_session(bought["session"]["id"]).state is PaymentState.PENDING
    assert (await open_checkout(browser, url)).payable
    assert (await session(live_api, bought["session"]["id"]))["status"] == "open"
    paid = await submit_checkout(browser, page.forms[0]["action"], "succeeded")  # the page's own form
    assert paid.status == 200 and paid.elements["outcome"].attrs["data-outcome"] == "succeeded"
    await live_api.mock.wait_for_deliveries()
