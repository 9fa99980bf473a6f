"""The payment methods' icons, end to end: every method lists an `icon_url` on the public URL, and
the service serves that SVG itself (no token, outside `/api/v1`, in production too) with a year of
immutable caching, an ETag that answers a conditional request with 304, and `nosniff`."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree

import pytest

from e2e_support import METHODS, error_of, ok
from entrypoints.http.assets import ICON_DIRECTORY, icon_path

ICON_URL = re.compile(r"^http://payments\.test/assets/methods/(?P<method>[a-z_]+)-(?P<digest>[0-9a-f]{16})\.svg$")
METHOD_IDS = ["wechat_pay", "alipay", "credit_card", "mock"]


async def listed_icons(api) -> dict[str, str]:
    methods = (await ok(await api.get(METHODS)))["methods"]
    return {m["id"]: m["icon_url"] for m in methods}


async def test_every_method_has_an_absolute_icon_url_on_the_public_url(api):
    icons = await listed_icons(api)

    assert list(icons) == METHOD_IDS
    for method, url in icons.items():
        match = ICON_URL.match(url or "")
        assert match and match["method"] == method, url
    assert len(set(icons.values())) == len(icons)


async def test_an_unavailable_method_keeps_its_icon(make_api):
    api = await make_api(PAYMENTS_METHOD_ROUTES="mock=mock")

    methods = (await ok(await api.get(METHODS)))["methods"]

    assert {m["id"]: (m["available"], bool(m["icon_url"])) for m in methods} == {
        "wechat_pay": (False, True), "alipay": (False, True), "credit_card": (False, True), "mock": (True, True)}


@pytest.mark.parametrize("method", METHOD_IDS)
async def test_each_icon_is_served_without_a_token_with_long_cache_headers(api, method):
    url = (await listed_icons(api))[method]
    path = url.removeprefix("http://payments.test")

    response = await api.client.get(path)  # no Authorization header

    assert response.status == 200
    assert response.headers["Content-Type"] == "image/svg+xml"
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["ETag"] == f'"{ICON_URL.match(url)["digest"]}"'
    assert "script-src" not in response.headers["Content-Security-Policy"]  # nothing runs: default-src 'none'
    body = await response.read()
    assert body == (ICON_DIRECTORY / f"{method}.svg").read_bytes()
    svg = ElementTree.fromstring(body)
    assert svg.tag == "{http://www.w3.org/2000/svg}svg" and svg.get("viewBox") == "0 0 48 48"
    assert not svg.findall(".//{http://www.w3.org/2000/svg}script")


async def test_a_conditional_request_with_the_etag_is_answered_304(api):
    path = (await listed_icons(api))["alipay"].removeprefix("http://payments.test")
    etag = (await api.client.get(path)).headers["ETag"]

    for if_none_match in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = await api.client.get(path, headers={"If-None-Match": if_none_match})
        assert again.status == 304, if_none_match
        assert await again.read() == b""
        assert again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    changed = await api.client.get(path, headers={"If-None-Match": '"something-else"'})
    assert changed.status == 200


@pytest.mark.parametrize("path", ["/assets/methods/alipay.svg", "/assets/methods/alipay-0000000000000000.svg",
                                  "/assets/methods/paypal-0000000000000000.svg", "/assets/methods/",
                                  "/assets/methods/..%2Fassets.py"])
async def test_a_name_or_hash_that_is_not_current_is_404(api, path):
    await error_of(await api.client.get(path), 404, "not_found")


async def test_icons_are_served_in_production_too(make_api):
    api = await make_api(PAYMENTS_ENV="production", PAYMENTS_METHOD_ROUTES="wechat_pay=example",
                         PAYMENTS_JWT_SECRET="a-production-secret-that-is-long-enough-0123456789")
    response = await api.client.get(icon_path("wechat_pay"))

    assert response.status == 200 and response.headers["Content-Type"] == "image/svg+xml"


async def test_icons_answer_head_and_refuse_post(api):
    path = (await listed_icons(api))["mock"].removeprefix("http://payments.test")

    head = await api.client.head(path)
    assert (head.status, head.headers["Content-Type"]) == (200, "image/svg+xml")
    await error_of(await api.client.post(path), 405, "method_not_allowed")
