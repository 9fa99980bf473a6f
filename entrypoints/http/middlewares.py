"""The request pipeline, outermost first:

1. `context`: request id (the caller's `X-Request-ID` if sane, else a new one), one JSON access
   log line, metrics, and the contract's error shape for anything that escapes.
2. `authentication`: a bearer token on every `/api/v1` route but the webhooks.
3. `idempotency`: `Idempotency-Key` on authenticated POSTs.
4. `validation`: JSON bodies must be objects and match the handler's schema (unknown fields
   refused); query strings are parsed by their schema. Results land in `request["json"]` /
   `request["querystring"]`.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from marshmallow import ValidationError
from webargs.aiohttpparser import AIOHTTPParser

from entrypoints.http import errors
from entrypoints.http.body import NOT_JSON, parsed_body
from entrypoints.http.keys import IDEMPOTENCY, METRICS, PRINCIPAL, REQUEST_ID, TOKENS, VALIDATED

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("payments.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_PREFIX = "/api/v1/"
WEBHOOK_PREFIX = "/api/v1/payments/webhooks/"


@web.middleware
async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get("X-Request-ID", "")
    request[REQUEST_ID] = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    started = time.perf_counter()
    try:
        response = await handler(request)
    except Exception as error:  # every failure gets the contract's error shape
        response = errors.response_for(error, request)
    elapsed = time.perf_counter() - started
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    request.app[METRICS].observe_request(request.method, route, response.status, elapsed)
    access_log.info("request", extra={"request_id": request[REQUEST_ID], "method": request.method,
                                      "path": request.path, "status": response.status,
                                      "duration_ms": round(elapsed * 1000, 2)})
    return response


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    """`on_response_prepare`: every response, streamed ones included, names its request."""
    if REQUEST_ID in request:
        response.headers["X-Request-ID"] = request[REQUEST_ID]


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception  # unknown route / wrong method come first
    path = request.path
    if path.startswith(API_PREFIX) and not path.startswith(WEBHOOK_PREFIX) and request.method != "OPTIONS":
        header = request.headers.get("Authorization")
        if header is None and path.endswith("/events") and "access_token" in request.query:
            header = f"Bearer {request.query['access_token']}"  # EventSource cannot send headers
        request[PRINCIPAL] = request.app[TOKENS].from_header(header)
    return await handler(request)


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = request.get(PRINCIPAL)
    if request.method != "POST" or principal is None:
        return await handler(request)
    return await request.app[IDEMPOTENCY](request, principal.user_id, handler)


_query_parser = AIOHTTPParser()


@_query_parser.error_handler
def _query_error(error: ValidationError, request, schema, *, error_status_code=None, error_headers=None):
    messages = error.messages
    raise errors.validation_error(messages.get("querystring", messages) if isinstance(messages, dict) else
                                  {"query": [str(messages)]})


@web.middleware
async def validation(request: web.Request, handler: Handler) -> web.StreamResponse:
    for entry in getattr(request.match_info.handler, "__schemas__", ()):
        if entry["location"] == "json":
            try:
                request[VALIDATED[entry["put_into"]]] = entry["schema"].load(await json_object(request))
            except ValidationError as error:
                raise errors.validation_error(error.normalized_messages()) from None
        else:
            request[VALIDATED[entry["put_into"]]] = await _query_parser.parse(entry["schema"], request, location=entry["location"])
    return await handler(request)


async def json_object(request: web.Request) -> dict:
    """The body as a JSON object, whatever its declared content type; else 400 `malformed_json`."""
    data = await parsed_body(request)
    if data is NOT_JSON:
        raise errors.malformed_json("The body is not valid JSON.")
    if not isinstance(data, dict):
        raise errors.malformed_json("The body must be a JSON object.")
    return data
