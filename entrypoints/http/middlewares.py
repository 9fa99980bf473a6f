"""The request pipeline, outermost first:

1. `context`: request id (the caller's `X-Request-ID` if sane, else a new one), one JSON access
   log line, metrics, and the contract's error shape for anything that escapes.
2. `authentication`: a bearer token on every `/api/v1` route but the webhooks; the `admin` role
   on every `/api/v1/admin/` route, checked before anything of the request is validated.
3. `idempotency`: `Idempotency-Key` on authenticated POSTs.
4. `validation`: JSON bodies must be objects and match the handler's schema (unknown fields
   refused); query strings are parsed by their schema. Results land in `request["json"]` /
   `request["querystring"]`. An unknown query parameter is refused like an unknown body field
   (422, `{"name": ["Unknown field."]}`) on every `/api/v1` route, those that take none included;
   the webhooks are left alone (providers add parameters of their own), and the event stream
   takes `access_token`. Pages outside the API (health, metrics, docs, the mock's checkout) take
   what they like.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web
from marshmallow import RAISE, ValidationError
from webargs.aiohttpparser import AIOHTTPParser

from entrypoints.http import errors
from entrypoints.http.auth import require_role
from entrypoints.http.body import MAX_DEPTH, NOT_JSON, parsed_body
from entrypoints.http.keys import (
    IDEMPOTENCY,
    METRICS,
    PRINCIPAL,
    REQUEST_ID,
    TOKENS,
    VALIDATED,
)
from entrypoints.http.protocol_errors import add_security_headers

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
access_log = logging.getLogger("payments.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
API_PREFIX = "/api/v1/"
WEBHOOK_PREFIX = "/api/v1/payments/webhooks/"
ADMIN_PREFIX = "/api/v1/admin/"


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
    """`on_response_prepare`: every response, streamed ones included, names its request and
    carries the security headers (`protocol_errors.add_security_headers`)."""
    if REQUEST_ID in request:
        response.headers["X-Request-ID"] = request[REQUEST_ID]
    add_security_headers(response)


@web.middleware
async def authentication(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.match_info.http_exception is not None:
        raise request.match_info.http_exception  # unknown route / wrong method come first
    path = request.path
    if path.startswith(API_PREFIX) and not path.startswith(WEBHOOK_PREFIX) and request.method != "OPTIONS":
        header = request.headers.get("Authorization")
        if header is None and _is_event_stream(request) and "access_token" in request.query:
            header = f"Bearer {request.query['access_token']}"  # EventSource cannot send headers
        request[PRINCIPAL] = request.app[TOKENS].from_header(header)
        if path.startswith(ADMIN_PREFIX):  # the role before the query or body is read: 403, not 422
            require_role(request[PRINCIPAL], "admin")
    return await handler(request)


EVENT_STREAM_ROUTE = "/api/v1/payments/sessions/{session_id}/events"


def _is_event_stream(request: web.Request) -> bool:
    """Whether the request is for the session event stream, the one route that takes the token as
    `access_token` (by its route, not by how its path ends: `/transactions/events` is not it)."""
    resource = request.match_info.route.resource
    return request.method == "GET" and resource is not None and resource.canonical == EVENT_STREAM_ROUTE


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    principal = request.get(PRINCIPAL)
    if request.method != "POST" or principal is None:
        return await handler(request)
    return await request.app[IDEMPOTENCY](request, principal.user_id, handler)


_query_parser = AIOHTTPParser(unknown=RAISE)  # whatever a query schema's own `unknown` says
UNKNOWN_FIELD = "Unknown field."  # marshmallow's words for an unknown field
# The query parameters of the API routes that have no query schema (by route; every other takes none).
QUERY_PARAMETERS = {EVENT_STREAM_ROUTE: frozenset({"access_token"})}


@_query_parser.error_handler
def _query_error(error: ValidationError, request, schema, *, error_status_code=None, error_headers=None):
    messages = error.messages
    raise errors.validation_error(messages.get("querystring", messages) if isinstance(messages, dict) else
                                  {"query": [str(messages)]})


@web.middleware
async def validation(request: web.Request, handler: Handler) -> web.StreamResponse:
    # NUL: PostgreSQL cannot store it (SQLite can), so it is refused here, before any storage, for
    # both to answer alike: an id with one names nothing (404), a value with one is invalid (422).
    if any(NUL in value for value in request.match_info.values()):
        raise errors.ApiError(404, "not_found", "There is nothing at this address.")
    schemas = getattr(request.match_info.handler, "__schemas__", ())
    if request.query_string and _refuses_unknown_query(request, schemas):
        unknown = [name for name in request.query if name not in _query_parameters(request)]
        if unknown:
            raise errors.validation_error({name.replace(NUL, "\\0"): [UNKNOWN_FIELD] for name in unknown})
    for entry in schemas:
        if entry["location"] == "json":
            body = await json_object(request)
            with_nul = _fields_with_nul(body)
            if with_nul:
                raise errors.validation_error({field: [NO_NUL] for field in with_nul})
            try:
                request[VALIDATED[entry["put_into"]]] = entry["schema"].load(body)
            except ValidationError as error:
                raise errors.validation_error(error.normalized_messages()) from None
        else:
            with_nul = [name for name, value in request.query.items() if NUL in name or NUL in value]
            if with_nul:
                raise errors.validation_error({name.replace(NUL, "\\0"): [NO_NUL] for name in with_nul})
            request[VALIDATED[entry["put_into"]]] = await _query_parser.parse(entry["schema"], request, location=entry["location"])
    return await handler(request)


def _refuses_unknown_query(request: web.Request, schemas) -> bool:
    """Whether the query is checked here: on an API route other than the webhooks', that has no
    query schema (a schema refuses unknown parameters itself), and not for a preflight (a browser
    sends it with the query of the request to come, which must get the answer, CORS headers and all)."""
    path = request.path
    return (path.startswith(API_PREFIX) and not path.startswith(WEBHOOK_PREFIX) and request.method != "OPTIONS"
            and not any(entry["location"] == "querystring" for entry in schemas))


def _query_parameters(request: web.Request) -> frozenset[str]:
    resource = request.match_info.route.resource
    return QUERY_PARAMETERS.get(resource.canonical, frozenset()) if resource is not None else frozenset()


NUL = "\x00"
NO_NUL = "Must be text without NUL characters."


def _storable(text: str) -> bool:
    """No NUL and no lone surrogate (`"\\ud800"` is valid JSON but no text: UTF-8 cannot hold it)."""
    if NUL in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fields_with_nul(value: object, name: str = "") -> list[str]:
    """The fields of a parsed JSON body (nested ones dotted, list items indexed) whose name or
    string value holds a NUL character or a lone surrogate."""
    if isinstance(value, str):
        return [] if _storable(value) else [name or "body"]
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            field = f"{name}.{key}" if name else key
            found += _fields_with_nul(item, field) if _storable(key) else ["(a field name)"]
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _fields_with_nul(item, f"{name}[{index}]")
    return found


async def json_object(request: web.Request) -> dict:
    """The body as a JSON object, whatever its declared content type; else 400 `malformed_json`."""
    data = await parsed_body(request)
    if data is NOT_JSON:
        raise errors.malformed_json(f"The body is not valid JSON (or nests deeper than {MAX_DEPTH} levels).")
    if not isinstance(data, dict):
        raise errors.malformed_json("The body must be a JSON object.")
    return data
