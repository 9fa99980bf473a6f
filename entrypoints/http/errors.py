"""Every error the API answers, in the contract's shape:

    {"error": {"code": "validation_error", "message": "…", "details": {"amount": ["…"]}}}

`details` is always there: `{}` when there is nothing more to say. The `message` is in the
request's language (`Accept-Language`, `language.py`; the Chinese sentences are in `texts.py`), so
every error answer says `Vary: Accept-Language`; codes and `details` never change with it.

One table maps exceptions to (status, code), resolved along the exception's MRO; aiohttp's own
HTTP errors (unknown route, wrong method, oversized body) are translated too. A provider failure
(502/503) answers a fixed message and logs the provider's own text. Anything else is a 500
`internal_error` that leaks nothing and is logged with the request id.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from aiohttp import web

from domain import errors as domain_errors
from domain.risk import RiskDeclinedError
from entrypoints.http import texts
from entrypoints.http.keys import REQUEST_ID
from entrypoints.http.language import ENGLISH, headers_for, language_of

log = logging.getLogger("payments.http")


class ApiError(Exception):
    """An error raised by the HTTP layer itself (bad JSON, bad token, wrong role, bad input)."""

    def __init__(self, status: int, code: str, message: str,
                 details: Mapping[str, list[str]] | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def malformed_json(message: str = "The body must be a JSON object.") -> ApiError:
    return ApiError(400, "malformed_json", message)


def unauthorized(message: str = "A valid bearer token is required.") -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": 'Bearer realm="payments"'})


def forbidden(message: str = "Your role does not allow this.") -> ApiError:
    return ApiError(403, "forbidden", message)


def validation_error(details: Mapping, message: str = "The request is invalid.") -> ApiError:
    return ApiError(422, "validation_error", message, flatten_messages(details))


def flatten_messages(messages: object, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as the contract's `{"field": ["message", …]}`; nested
    fields are joined with dots and list items get their index (`type[0]`)."""
    if isinstance(messages, Mapping):
        flat: dict[str, list[str]] = {}
        for key, value in messages.items():
            name = f"{prefix}[{key}]" if isinstance(key, int) else (f"{prefix}.{key}" if prefix else str(key))
            for field, texts in flatten_messages(value, name).items():
                flat.setdefault(field, []).extend(texts)
        return flat
    if isinstance(messages, (list, tuple)):
        if all(isinstance(m, str) for m in messages):
            return {prefix or "body": list(messages)}
        flat = {}
        for index, value in enumerate(messages):
            for field, texts in flatten_messages(value, f"{prefix}[{index}]").items():
                flat.setdefault(field, []).extend(texts)
        return flat
    return {prefix or "body": [str(messages)]}


STATUS_BY_ERROR: dict[type[Exception], int] = {
    RiskDeclinedError: 403,  # risk_declined (docs/risk.md)
    domain_errors.DomainValidationError: 422,
    domain_errors.CurrencyMismatchError: 422,
    domain_errors.IdempotencyKeyReusedError: 422,
    domain_errors.PaymentMethodUnavailableError: 422,
    domain_errors.NotFoundError: 404,
    domain_errors.ConflictError: 409,
    domain_errors.InvalidSignatureError: 401,
    domain_errors.ProviderUnavailableError: 503,
    domain_errors.ProviderError: 502,
}

PROVIDER_MESSAGES = {
    502: "The payment provider refused or failed; nothing was charged twice. Try again or choose another method.",
    503: "The payment provider is unavailable; nothing was charged twice. Try again shortly.",
}

HTTP_CODES = {400: "malformed_json", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "invalid_state", 413: "payload_too_large",
              415: "unsupported_media_type", 422: "validation_error", 429: "rate_limited"}


def error_body(code: str, message: str, details: Mapping[str, list[str]] | None = None) -> bytes:
    return orjson.dumps({"error": {"code": code, "message": message, "details": details or {}}})


def error_response(status: int, code: str, message: str, details: Mapping[str, list[str]] | None = None,
                   headers: Mapping[str, str] | None = None, *, language: str | None = None) -> web.Response:
    """An error answer; with `language` (the request's), its message in that language and the
    headers saying so (without, the English `message` as it is)."""
    if language is not None:
        message = texts.error_message(code, message, language)
        headers = {**headers_for(language), **(headers or {})}
    return web.Response(status=status, body=error_body(code, message, details),
                        content_type="application/json", charset="utf-8", headers=headers)


def response_for(error: BaseException, request: web.Request) -> web.Response:
    """The contract's answer to an exception raised while handling `request`."""
    language = language_of(request)
    if isinstance(error, ApiError):
        return error_response(error.status, error.code, error.message, error.details, error.headers,
                              language=language)
    if isinstance(error, domain_errors.PaymentsError):
        status = next((STATUS_BY_ERROR[cls] for cls in type(error).__mro__ if cls in STATUS_BY_ERROR), 500)
        if status in PROVIDER_MESSAGES:
            # A provider's text may name merchant ids, keys, hosts or its own internals: logged, never sent.
            log.warning("provider failure in %s %s (request id %s): %s", request.method, request.path,
                        request.get(REQUEST_ID), error.message)
            retry_after = getattr(error, "retry_after_seconds", None)  # an open circuit says when to retry
            return error_response(status, error.code, PROVIDER_MESSAGES[status], language=language,
                                  headers={"Retry-After": str(retry_after)} if retry_after else None)
        if status != 500:
            return error_response(status, error.code, error.message, error.details, language=language)
    if isinstance(error, web.HTTPException) and error.status >= 400:
        return _from_aiohttp(error, language)
    log.exception("unhandled error in %s %s (request id %s)", request.method, request.path,
                  request.get(REQUEST_ID), exc_info=error)
    return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.",
                          language=language)


def _from_aiohttp(error: web.HTTPException, language: str = ENGLISH) -> web.Response:
    status = error.status
    if status == 404:
        return error_response(404, "not_found", "There is nothing at this address.", language=language)
    if status == 405:
        allowed = ", ".join(sorted(getattr(error, "allowed_methods", ()) or ()))
        message = (f"Method not allowed here (allowed: {allowed})." if language == ENGLISH
                   else texts.METHOD_NOT_ALLOWED.format(allowed=allowed))  # already in its language
        headers = {**headers_for(language), **({"Allow": allowed} if allowed else {})}
        return error_response(405, "method_not_allowed", message, headers=headers)
    if status == 413:
        return error_response(413, "payload_too_large", "The request body is too large.", language=language)
    code = HTTP_CODES.get(status, "malformed_json" if status == 400 else "internal_error")
    return error_response(status, code, error.reason or "The request could not be handled.", language=language)
