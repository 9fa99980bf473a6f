"""aiohttp's own answers to requests it cannot parse (a bad request line, a bad header, a header
too large), in the contract's error shape with an `X-Request-ID`.

aiohttp answers these itself, before any middleware or `on_response_prepare` signal runs (the
request matched no route), with a plain-text body. The one place they pass through is the
request's `_prepare_hook`, called as the response is prepared; so the application makes its
requests of `ContractRequest`, whose hook rewrites such an answer. This leans on private names
of aiohttp (`Application._make_request` and its `_cls` argument, `Request._prepare_hook` and
`_match_info`, None for such requests), which `tests/e2e/test_hardening_http.py` pins: an
aiohttp upgrade that moves them fails there.

Such an answer has `details: {}` like every error, and its message is in the request's language
when its `Accept-Language` could be read (usually it cannot: the headers are what failed). It
carries no CORS headers: no `Origin` of it can be trusted to have been read either.
"""
from __future__ import annotations

import functools
import uuid

from aiohttp import hdrs, web

from entrypoints.http import texts
from entrypoints.http.errors import HTTP_CODES, error_body
from entrypoints.http.language import headers_for, language_of

PARSE_ERROR_MESSAGE = "The request line or its headers could not be parsed."


class ContractRequest(web.Request):
    async def _prepare_hook(self, response: web.StreamResponse) -> None:
        if self._match_info is None and isinstance(response, web.Response) and response.status >= 400:
            _in_contract_shape(response, language_of(self))
        await super()._prepare_hook(response)


def _in_contract_shape(response: web.Response, language: str) -> None:
    status = response.status
    code = HTTP_CODES.get(status, "malformed_json" if status < 500 else "internal_error")
    message = PARSE_ERROR_MESSAGE if status < 500 else "Something went wrong on our side; it has been logged."
    body = error_body(code, texts.error_message(code, message, language))  # never the parser's text: it may quote the raw line, tokens included
    response.body = body
    response.content_type = "application/json"
    response.charset = "utf-8"
    response.headers[hdrs.CONTENT_LENGTH] = str(len(body))
    response.headers.update(headers_for(language))
    add_security_headers(response)
    response.headers["X-Request-ID"] = uuid.uuid4().hex


def add_security_headers(response: web.StreamResponse) -> None:
    """What every response carries: no MIME sniffing, nothing stored by caches (unless the handler
    chose its own `Cache-Control`), and a `Server` header that names no software or version."""
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    response.headers[hdrs.SERVER] = "payments"


def install(app: web.Application) -> None:
    """Make `app`'s requests `ContractRequest`s."""
    app._make_request = functools.partial(app._make_request, _cls=ContractRequest)  # type: ignore[method-assign]
