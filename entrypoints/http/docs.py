"""The handlers' OpenAPI annotations: the decorators, and the fragments they share.

`docs`, `json_schema`, `querystring_schema` and `response_schema` record on a handler exactly what
aiohttp-apispec's decorators of the same names record (`__apispec__`, `__schemas__`), so that
`openapi.py` builds the document with aiohttp-apispec. They are defined here so that serving
never imports aiohttp-apispec, apispec and jinja2: the document is built on its first request,
which keeps every worker process ~4 MB lighter.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from entrypoints.http.schemas import ErrorSchema

ERROR_DESCRIPTIONS = {
    400: "`malformed_json`: the body is not JSON or not an object.",
    401: "`unauthorized`: missing, expired or invalid bearer token.",
    403: "`forbidden`: the token's role does not allow this.",
    404: "`not_found`: no such object, or not yours.",
    409: "A state conflict: `invalid_state`, `plan_unchanged`, `too_many_pending`, "
         "`idempotency_request_in_progress` or `insufficient_receives`.",
    413: "`payload_too_large`: the body is larger than the service accepts.",
    422: "`validation_error` (with `details` per field), `idempotency_key_reused` or "
         "`payment_method_unavailable`.",
    502: "`provider_error`: the payment provider refused; nothing was charged twice.",
    503: "`provider_unavailable`: the provider did not answer; nothing was charged twice.",
}

IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
    "description": "Makes the POST safe to retry: the same key and body replay the first answer "
                   "(with `Idempotent-Replayed: true`) for at least 24 hours.",
}
BEARER = [{"bearerAuth": []}]
PAYMENTS_TAG = ["payments"]  # the tag of the payments API's operations


def error_responses(*statuses: int) -> dict:
    return {str(s): {"schema": ErrorSchema, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}


def post_errors(*statuses: int) -> dict:
    """What any authenticated POST with a JSON body can answer, plus `statuses`."""
    return error_responses(400, 401, 413, 422, *statuses)


def _annotations(handler: Callable) -> dict[str, Any]:
    if not hasattr(handler, "__apispec__"):
        handler.__apispec__ = {"schemas": [], "responses": {}, "parameters": []}
        handler.__schemas__ = []
    return handler.__apispec__


def docs(**fields: Any) -> Callable[[Callable], Callable]:
    """Operation fields: tags, summary, description, security, parameters, responses, …"""
    def decorate(handler: Callable) -> Callable:
        annotations = _annotations(handler)
        annotations["parameters"].extend(fields.pop("parameters", []))
        annotations["responses"].update(fields.pop("responses", {}))
        annotations.update(fields)
        return handler
    return decorate


def _request_schema(location: str) -> Callable[[Any], Callable[[Callable], Callable]]:
    def schema_decorator(schema: Any) -> Callable[[Callable], Callable]:
        instance = schema() if callable(schema) else schema

        def decorate(handler: Callable) -> Callable:
            _annotations(handler)["schemas"].append(
                {"schema": instance, "location": location, "options": {"required": False}, "example": {}})
            handler.__schemas__.append({"schema": instance, "location": location, "put_into": location})
            return handler
        return decorate
    return schema_decorator


json_schema = _request_schema("json")
querystring_schema = _request_schema("querystring")


def response_schema(schema: Any, code: int = 200, description: str = "") -> Callable[[Callable], Callable]:
    instance = schema() if callable(schema) else schema

    def decorate(handler: Callable) -> Callable:
        _annotations(handler)["responses"][str(code)] = {"schema": instance, "required": False,
                                                         "description": description}
        return handler
    return decorate
