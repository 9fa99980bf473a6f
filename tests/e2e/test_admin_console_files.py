"""The admin console's files over HTTP (the real app on a test server): `/admin/` and every shipped
file served with its content type, the strict Content-Security-Policy and `nosniff`, in every
environment and without a token; an ETag that answers a conditional request with 304; `/admin`
redirected to `/admin/`; anything not shipped (a path that climbs out included) a 404 in the
contract's error shape; no inline script, inline style or event handler in the page, and every
script and style it loads is one of the console's own files."""
from __future__ import annotations

from html.parser import HTMLParser

import pytest

from e2e_support import error_of
from entrypoints.http.admin_console import CONSOLE_DIRECTORY, console_files

CSP = {"default-src": "'self'", "script-src": "'self'", "style-src": "'self'", "img-src": "'self' data:",
       "connect-src": "'self'", "object-src": "'none'", "base-uri": "'none'", "form-action": "'self'",
       "frame-ancestors": "'none'"}
SHIPPED = {
    "index.html": "text/html", "console.js": "text/javascript", "api.js": "text/javascript",
    "dom.js": "text/javascript", "dashboard.js": "text/javascript", "revenue_chart.js": "text/javascript",
    "refund_queue.js": "text/javascript", "user_lookup.js": "text/javascript", "audit_log.js": "text/javascript",
    "risk_flags.js": "text/javascript", "console.css": "text/css", "vendor/uPlot.iife.min.js": "text/javascript",
    "vendor/uPlot.min.css": "text/css", "vendor/uPlot.LICENSE": "text/plain"}


def policy(header: str) -> dict[str, str]:
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def assert_console_headers(response, content_type: str) -> None:
    assert response.headers["Content-Type"] == f"{content_type}; charset=utf-8"
    assert policy(response.headers["Content-Security-Policy"]) == CSP
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-cache"


def test_the_shipped_files_are_exactly_the_consoles():
    assert set(console_files()) - {""} == set(SHIPPED)


async def test_the_page_is_served_at_admin_slash_without_a_token(api):
    response = await api.client.get("/admin/")

    assert response.status == 200
    assert_console_headers(response, "text/html")
    assert await response.read() == (CONSOLE_DIRECTORY / "index.html").read_bytes()


@pytest.mark.parametrize("name", sorted(SHIPPED))
async def test_each_file_is_served_with_its_type_and_the_policy(api, name):
    response = await api.client.get(f"/admin/{name}")

    assert response.status == 200
    assert_console_headers(response, SHIPPED[name])
    assert await response.read() == (CONSOLE_DIRECTORY / name).read_bytes()


async def test_a_file_not_changed_since_is_answered_304(api):
    first = await api.client.get("/admin/console.js")
    again = await api.client.get("/admin/console.js", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status == 304 and await again.read() == b""
    assert again.headers["ETag"] == first.headers["ETag"]
    assert "Content-Security-Policy" in again.headers


async def test_admin_without_the_slash_is_redirected_to_it(api):
    response = await api.client.get("/admin", allow_redirects=False)

    assert (response.status, response.headers["Location"]) == (308, "/admin/")


@pytest.mark.parametrize("path", ["/admin/nope.js", "/admin/vendor/", "/admin/vendor/uPlot.js",
                                  "/admin/%2e%2e/setup.cfg", "/admin/..%2fapp.py", "/admin/index.html/x",
                                  "/admin/assets.py"])
async def test_anything_not_shipped_is_a_404_in_the_contracts_shape(api, path):
    await error_of(await api.client.get(path), 404, "not_found")


async def test_the_console_is_served_in_production_too(make_api):
    api = await make_api(PAYMENTS_ENV="production", PAYMENTS_JWT_SECRET="p" * 40, PAYMENTS_METHOD_ROUTES="",
                         PAYMENTS_CORS_ORIGINS="")

    response = await api.client.get("/admin/")

    assert response.status == 200
    assert_console_headers(response, "text/html")


class _PageParts(HTMLParser):
    """What a page runs and loads: its scripts, style sheets, inline code and handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[dict] = []
        self.inline_scripts: list[str] = []
        self.stylesheets: list[str] = []
        self.inline_styles = 0
        self.handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        self.handlers += [f"{tag}[{name}]" for name in attributes if name.startswith("on")]
        if "style" in attributes:
            self.inline_styles += 1
        if tag == "script":
            self.scripts.append(attributes)
            self._in_script = True
        elif tag == "style":
            self.inline_styles += 1
        elif tag == "link" and attributes.get("rel") == "stylesheet":
            self.stylesheets.append(attributes["href"])
        for name in ("href", "src", "action"):
            if (attributes.get(name) or "").strip().lower().startswith("javascript:"):
                self.handlers.append(f"{tag}[{name}=javascript:]")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data)


async def test_the_page_has_no_inline_script_style_or_handler_and_loads_only_its_own_files(api):
    page = _PageParts()
    page.feed(await (await api.client.get("/admin/")).text())

    assert page.inline_scripts == [] and page.handlers == [] and page.inline_styles == 0
    assert [s.get("src") for s in page.scripts] == ["vendor/uPlot.iife.min.js", "console.js"]
    assert [s.get("type") for s in page.scripts] == [None, "module"]
    assert page.stylesheets == ["vendor/uPlot.min.css", "console.css"]
    for name in (s["src"] for s in page.scripts):
        assert name in SHIPPED
    for name in page.stylesheets:
        assert name in SHIPPED


def test_the_consoles_scripts_use_no_eval_and_never_parse_markup():
    for name in SHIPPED:
        if name.endswith(".js") and not name.startswith("vendor/"):
            source = (CONSOLE_DIRECTORY / name).read_text()
            for forbidden in ("eval(", "new Function", "innerHTML", "outerHTML", "insertAdjacentHTML",
                              "document.write", "setAttribute(\"style\"", "setAttribute('style'"):
                assert forbidden not in source, (name, forbidden)
