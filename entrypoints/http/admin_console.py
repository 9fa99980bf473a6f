"""The admin console's static files (`entrypoints/http/assets/admin/`), served at `/admin/`.

    /admin              → 308 to /admin/
    /admin/             → index.html
    /admin/<file>       → that shipped file (the console's modules and styles, the vendored uPlot)

The console is a page of plain HTML, CSS and ES modules that calls the admin API with a pasted
token (docs/admin-console.md): nothing is built at run time and nothing comes from another origin.
The files are read once at start-up and looked up by their path in a table, so only a shipped
file is ever served (no path reaches the file system); anything else is the contract's 404.

Every answer carries a strict Content-Security-Policy: scripts, styles and calls only from this
origin (no inline script or event handler, no `eval`), no frames of it anywhere, no plugins, no
`<base>`. Files are revalidated on every load (`no-cache` and an `ETag`): module URLs carry no
hash, so a changed console must not be served stale. No token is needed to load the files (they
hold no data); every figure they show comes from `/api/v1/admin/…`, which needs an admin token.
Served in every environment: it is the operators' tool.
"""
from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import cache
from pathlib import Path

import attrs
from aiohttp import web

CONSOLE_DIRECTORY = Path(__file__).with_name("assets") / "admin"
PREFIX = "/admin/"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
CONTENT_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".LICENSE": "text/plain"}
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate it
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


@attrs.frozen
class ConsoleFile:
    body: bytes
    content_type: str
    digest: str  # the first 16 hex digits of its SHA-256: its ETag


@cache
def console_files() -> Mapping[str, ConsoleFile]:
    """Every shipped file of the console by its path under `/admin/` (`""` is index.html)."""
    files = {}
    for path in sorted(CONSOLE_DIRECTORY.rglob("*")):
        content_type = CONTENT_TYPES.get(path.suffix)
        if not path.is_file() or content_type is None:
            continue
        body = path.read_bytes()
        files[path.relative_to(CONSOLE_DIRECTORY).as_posix()] = ConsoleFile(
            body, content_type, hashlib.sha256(body).hexdigest()[:16])
    files[""] = files["index.html"]
    return files


async def _redirect(request: web.Request) -> web.Response:
    return web.Response(status=308, headers={"Location": PREFIX})


async def _file(request: web.Request) -> web.Response:
    found = console_files().get(request.match_info.get("path", ""))
    if found is None:
        raise web.HTTPNotFound()
    if any(tag.value in ("*", found.digest) for tag in request.if_none_match or ()):
        response = web.Response(status=304, headers=_HEADERS)
    else:
        response = web.Response(body=found.body, content_type=found.content_type, charset="utf-8", headers=_HEADERS)
    response.etag = found.digest
    return response


def mount(app: web.Application) -> None:
    """Serve the console on `app` (every environment)."""
    app.router.add_get(PREFIX.rstrip("/"), _redirect, allow_head=False)
    app.router.add_get(PREFIX, _file, allow_head=False)
    app.router.add_get(PREFIX + "{path:.+}", _file, allow_head=False)
