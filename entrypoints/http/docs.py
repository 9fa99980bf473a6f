"""OpenAPI fragments shared by the handlers' `@docs` decorators."""
from __future__ import annotations

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


def error_responses(*statuses: int) -> dict:
    return {str(s): {"schema": ErrorSchema, "description": ERROR_DESCRIPTIONS[s]} for s in statuses}


def post_errors(*statuses: int) -> dict:
    """What any authenticated POST with a JSON body can answer, plus `statuses`."""
    return error_responses(400, 401, 413, 422, *statuses)
