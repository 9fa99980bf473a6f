"""The handlers' OpenAPI annotations: the decorators, and the fragments they share.

`docs`, `json_schema`, `querystring_schema` and `response_schema` record on a handler exactly what
aiohttp-apispec's decorators of the same names record (`__apispec__`, `__schemas__`), so that
`openapi.py` builds the document with aiohttp-apispec. They are defined here so that serving
never imports aiohttp-apispec, apispec and jinja2: the document is built on its first request,
which keeps every worker process ~4 MB lighter.

Besides the OpenAPI operation fields, `docs` takes two keys of its own, `request_examples`
(named examples of the JSON body) and `response_examples` (named examples per status, where one
schema has several shapes), which `openapi.py` moves into the request body and the responses. An
`operationId` given to `docs` wins over the one `openapi.py` derives from the handler's name.
Error responses carry an example per error code they can answer (`error_responses`), in the
contract's shape, `details` included.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from entrypoints.http.schemas import ErrorSchema

# The codes each status can answer (the contract's error table), and what each means.
ERROR_CODES: dict[int, tuple[str, ...]] = {
    400: ("malformed_json",),
    401: ("unauthorized",),
    403: ("forbidden",),
    404: ("not_found",),
    405: ("method_not_allowed",),
    409: ("invalid_state", "plan_unchanged", "too_many_pending", "idempotency_request_in_progress",
          "insufficient_receives", "not_refundable", "refund_in_progress"),
    413: ("payload_too_large",),
    422: ("validation_error", "idempotency_key_reused", "payment_method_unavailable"),
    429: ("rate_limited",),
    502: ("provider_error",),
    503: ("provider_unavailable",),
}

# A message the service really answers with each code, and its `details` (`{}`: nothing more to say).
ERROR_EXAMPLES: dict[str, tuple[str, dict[str, list[str]]]] = {
    "malformed_json": ("The body is not valid JSON (or nests deeper than 32 levels).", {}),
    "unauthorized": ("A valid bearer token is required.", {}),
    "forbidden": ("This needs the service role.", {}),
    "not_found": ("There is nothing at this address.", {}),
    "method_not_allowed": ("Method not allowed here (allowed: POST).", {}),
    "invalid_state": ("A transaction cannot move from succeeded to cancelled.", {}),
    "plan_unchanged": ("You are already on the pro plan and no change is scheduled.", {}),
    "too_many_pending": ("At most 5 pending transactions are allowed; pay or cancel one first.", {}),
    "idempotency_request_in_progress": ("A request with this Idempotency-Key is still being processed.", {}),
    "insufficient_receives": ("Cannot consume 3 receives: the balance is 2.", {}),
    "not_refundable": ("The refund window of 30 days after the payment has passed.", {}),
    "refund_in_progress": ("Refund rf_7c1e0b5d9a2f4e6b8c3d1a0f of this transaction is still open; wait until "
                           "it ends.", {}),
    "payload_too_large": ("The request body is too large.", {}),
    "validation_error": ("The request is invalid.",
                         {"amount": ["Must be greater than or equal to 1 and less than or equal to 100."]}),
    "idempotency_key_reused": ("This Idempotency-Key was used with a different request body.", {}),
    "payment_method_unavailable": ("Payment method 'credit_card' is not available right now.",
                                   {"payment_method": ["Not available."]}),
    "rate_limited": ("Too many requests; try again in 12 seconds.", {}),
    "risk_declined": ("This payment was declined for risk reasons.", {}),
    "provider_error": ("The payment provider refused or failed; nothing was charged twice. "
                       "Try again or choose another method.", {}),
    "provider_unavailable": ("The payment provider is unavailable; nothing was charged twice. "
                             "Try again shortly.", {}),
}

ERROR_MEANINGS = {
    400: "the body is not JSON or not an object.",
    401: "missing, expired or invalid bearer token.",
    403: "the token's role does not allow this.",
    404: "no such object, or not yours.",
    405: "this path does not take this method (the `Allow` header names those it takes).",
    409: "a state conflict; nothing was changed.",
    413: "the body is larger than the service accepts.",
    422: "well-formed but wrong input (`details` names the fields).",
    429: "too many requests; wait `Retry-After` seconds.",
    502: "the payment provider refused; nothing was charged twice.",
    503: "the provider did not answer; nothing was charged twice.",
}

IDEMPOTENCY_KEY = {
    "in": "header", "name": "Idempotency-Key", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
    "description": "Makes the POST safe to retry: the same key and body replay the first answer "
                   "(with `Idempotent-Replayed: true`) for at least 24 hours.",
}
BEARER = [{"bearerAuth": []}]
PAYMENTS_TAG = ["payments"]  # the tag of the payments API's operations


def error_example(code: str) -> dict:
    message, details = ERROR_EXAMPLES[code]
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(status: int, codes: Iterable[str] | None = None) -> dict:
    """One error response: `codes` (default: every code of `status`), each with an example."""
    codes = tuple(codes or ERROR_CODES[status])
    listed = ", ".join(f"`{code}`" for code in codes)
    return {"schema": ErrorSchema, "description": f"{listed}: {ERROR_MEANINGS[status]}",
            "examples": {code: {"summary": code, "value": error_example(code)} for code in codes}}


def error_responses(*statuses: int, conflicts: Iterable[str] = ()) -> dict:
    """Error responses for `statuses`; a 409 answers only `conflicts`, when given."""
    return {str(s): error_response(s, conflicts if s == 409 and conflicts else None) for s in statuses}


def post_errors(*statuses: int, conflicts: Iterable[str] = ()) -> dict:
    """What any authenticated POST with a JSON body can answer, plus `statuses`; a repeat of its
    Idempotency-Key while the first request runs is a 409 too."""
    conflicts = (*conflicts, "idempotency_request_in_progress") if conflicts else ()
    return error_responses(400, 401, 413, 422, 409, *statuses, conflicts=conflicts)


def _annotations(handler: Callable) -> dict[str, Any]:
    if not hasattr(handler, "__apispec__"):
        handler.__apispec__ = {"schemas": [], "responses": {}, "parameters": []}
        handler.__schemas__ = []
    return handler.__apispec__


def docs(**fields: Any) -> Callable[[Callable], Callable]:
    """Operation fields: tags, summary, description, security, parameters, responses, operationId,
    `request_examples` ({name: {"summary", "value"}}, the JSON body's examples) and
    `response_examples` ({status: {name: {"summary", "value"}}})."""
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


# Examples of the response objects (schema-level: a document's tools compose the responses that
# nest them). Tests check each against its schema.
_TXN = "txn_fd58dacddb45833b74e2f4df"
_SESSION = "ps_f2ab8309811cc6eba8664a2d"
RESPONSE_EXAMPLES: dict[str, dict] = {
    "Transaction": {
        "id": _TXN, "order_id": "P20261127VOZBT2H7X5XV", "type": "purchase_receives", "status": "pending",
        "receives": 10, "plan_from": None, "plan_to": None, "subtotal": 2000, "discount": 300, "total": 1700,
        "currency": "CNY", "payment_method": "wechat_pay", "provider": "mock", "refunded_amount": 0,
        "cancel_reason": None, "failure_reason": None, "created_at": "2026-11-27T04:58:47Z",
        "updated_at": "2026-11-27T04:58:47Z", "completed_at": None, "price_variant": None},
    "PaymentSession": {
        "id": _SESSION, "transaction_id": _TXN, "order_id": "S20261127Y95UR7AXTZ4V", "status": "open",
        "payment_method": "wechat_pay", "provider": "mock", "amount": 1700, "currency": "CNY",
        "payment_url": f"http://127.0.0.1:8080/mock-checkout/{_SESSION}",
        "qr_code": f"http://127.0.0.1:8080/mock-checkout/{_SESSION}",
        "qr_code_image": "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=",
        "expires_at": "2026-11-27T05:58:47Z", "created_at": "2026-11-27T04:58:47Z", "completed_at": None},
    "Proration": {"credit": 1450, "debit": 2950, "charge": 1500, "period_end": "2026-12-12T00:00:00Z"},
    "ScheduledChange": {"plan": "basic", "effective_at": "2026-12-12T00:00:00Z"},
    "ReceivesBalance": {"balance": 27, "allowance_remaining": 15, "purchased_remaining": 12,
                        "monthly_allowance": 20},
    "Membership": {
        "plan": "pro", "status": "active", "current_period_start": "2026-11-12T00:00:00Z",
        "current_period_end": "2026-12-12T00:00:00Z", "scheduled_change": None,
        "receives": {"balance": 27, "allowance_remaining": 15, "purchased_remaining": 12, "monthly_allowance": 20},
        "auto_renew": False, "renewal_method_id": None, "next_renewal_at": None, "grace_until": None},
    "PaymentMethod": {"id": "wechat_pay", "name": "WeChat Pay", "available": True,
                      "icon_url": "http://127.0.0.1:8080/assets/methods/wechat_pay-5f0c2a9e7b13d4c8.svg",
                      "flows": ["qr_code"], "currencies": ["CNY"], "status": "ok", "can_save": False},
    "Tier": {"min_amount": 10, "discount_percent": 15},
    "Plan": {"id": "pro", "name": "Pro", "price": 2900, "interval": "month", "monthly_receives": 20},
    "NotificationAck": {"received": True},
    "Refund": {
        "id": "rf_3c9e1f0a7b5d2e4c6a8b0d1f", "transaction_id": _TXN, "order_id": "R20261204K3M9Q2W7E5R1",
        "kind": "requested", "status": "requested", "amount": 850, "currency": "CNY", "receives": 5,
        "ends_plan": False, "reason": "bought by mistake", "requested_by": "u1", "reviewed_by": None,
        "review_note": None, "failure_reason": None, "created_at": "2026-12-04T09:12:30Z", "reviewed_at": None,
        "completed_at": None},
    "AdminRefund": {
        "id": "rf_3c9e1f0a7b5d2e4c6a8b0d1f", "transaction_id": _TXN, "order_id": "R20261204K3M9Q2W7E5R1",
        "kind": "requested", "status": "processing", "amount": 850, "currency": "CNY", "receives": 5,
        "ends_plan": False, "reason": "bought by mistake", "requested_by": "u1", "reviewed_by": "admin1",
        "review_note": "ok", "failure_reason": None, "created_at": "2026-12-04T09:12:30Z",
        "reviewed_at": "2026-12-04T10:02:11Z", "completed_at": None, "user_id": "u1", "provider": "mock"},
    "RefundQuote": {"transaction_id": _TXN, "amount": 850, "currency": "CNY", "receives": 5, "ends_plan": False},
    "AuditEntry": {
        "id": "aud_5b7d9f1e3a2c4b6d8f0e1a3c", "actor": "admin1", "action": "refund.approved", "object_type": "refund",
        "object_id": "rf_3c9e1f0a7b5d2e4c6a8b0d1f", "details": {
            "transaction_id": _TXN, "user_id": "u1", "kind": "requested", "status": "processing", "amount": 850,
            "currency": "CNY", "receives": 5, "note": "ok"},
        "request_id": "7f1c2e9a-4b3d-4e5f-8a6b-1c2d3e4f5a6b", "created_at": "2026-12-04T10:02:11Z"},
}

_UPGRADE = {**RESPONSE_EXAMPLES["Transaction"], "type": "plan_upgrade", "receives": None, "plan_from": "basic",
            "plan_to": "pro", "subtotal": 2900, "discount": 0, "total": 2900}
_DOWNGRADE = {**RESPONSE_EXAMPLES["Transaction"], "type": "plan_downgrade", "status": "succeeded", "receives": None,
              "plan_from": "pro", "plan_to": "basic", "subtotal": 0, "discount": 0, "total": 0,
              "payment_method": None, "provider": None, "completed_at": "2026-11-27T04:58:47Z"}
# The three answers of a plan change (`@docs(response_examples=…)`: {status: {name: example}}).
PLAN_CHANGE_EXAMPLES = {
    "201": {"upgrade": {"summary": "From Basic to Pro: pay it through the session", "value": {
        "transaction": _UPGRADE, "session": {**RESPONSE_EXAMPLES["PaymentSession"], "amount": 2900},
        "proration": {"credit": 0, "debit": 2900, "charge": 2900, "period_end": None}}}},
    "200": {"downgrade": {"summary": "From Pro to Basic at the period end", "value": {
        "transaction": _DOWNGRADE, "session": None, "effective_at": "2026-12-12T00:00:00Z"}},
        "change_cancelled": {"summary": "The current plan again: the scheduled change is cancelled", "value": {
            "membership": RESPONSE_EXAMPLES["Membership"]}}},
}
