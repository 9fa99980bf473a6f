"""Static assets the service serves itself: the payment methods' icons, drawn for this project
(`entrypoints/http/assets/methods/<method>.svg`).

Each is served at `/assets/methods/<method>-<hash>.svg`, `<hash>` the first 16 hex digits of the
file's SHA-256, so a changed icon gets a new URL and an icon URL never changes meaning: browsers and
CDNs may keep it for a year (`Cache-Control: public, max-age=31536000, immutable`, and an `ETag`
for a conditional request all the same). No token, no `/api/v1` prefix, in production too. A
name or hash that is not the current one is 404. The SVGs get a Content-Security-Policy that runs
nothing and loads nothing (an SVG opened on its own is a document of this origin).

`icon_urls(public_url)` gives the absolute URL of each icon, the service's catalog of method icons
(`ListPaymentMethods` links them).
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import attrs
from aiohttp import web

ICON_DIRECTORY = Path(__file__).with_name("assets") / "methods"
ROUTE = "/assets/methods/{name}"
ONE_YEAR = 365 * 24 * 3600
_HEADERS = {
    "Cache-Control": f"public, max-age={ONE_YEAR}, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; sandbox",
    "Cross-Origin-Resource-Policy": "cross-origin",  # a frontend on another origin shows them
}


@attrs.frozen
class Asset:
    body: bytes
    digest: str  # the first 16 hex digits of its SHA-256: its file name's suffix and its ETag


@cache
def method_icons() -> Mapping[str, Asset]:
    """Every shipped icon by method id, read once."""
    icons = {}
    for path in sorted(ICON_DIRECTORY.glob("*.svg")):
        body = path.read_bytes()
        icons[path.stem] = Asset(body, hashlib.sha256(body).hexdigest()[:16])
    return icons


def icon_path(method: str) -> str | None:
    """The path `method`'s icon is served at, or None when there is none."""
    icon = method_icons().get(method)
    return None if icon is None else f"/assets/methods/{method}-{icon.digest}.svg"


def icon_urls(public_url: str) -> dict[str, str]:
    """The absolute URL of every method's icon, on the service's public URL."""
    base = public_url.rstrip("/")
    return {method: f"{base}{icon_path(method)}" for method in method_icons()}


def mount(app: web.Application) -> None:
    """Serve the icons on `app` (every environment)."""
    by_file_name = {f"{method}-{icon.digest}.svg": icon for method, icon in method_icons().items()}

    async def icon(request: web.Request) -> web.Response:
        found = by_file_name.get(request.match_info["name"])
        if found is None:
            raise web.HTTPNotFound()
        asked = request.if_none_match or ()  # aiohttp parses the header (`*`, weak tags)
        if any(tag.value in ("*", found.digest) for tag in asked):
            response = web.Response(status=304, headers=_HEADERS)
        else:
            response = web.Response(body=found.body, content_type="image/svg+xml", headers=_HEADERS)
        response.etag = found.digest
        return response

    app.router.add_get(ROUTE, icon)

