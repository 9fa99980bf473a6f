"""schemathesis hooks for the API fuzz run.

A client makes a new Idempotency-Key for each new request; schemathesis draws the same few
values again and again, and a reused key with another body is rightly refused with 422
`idempotency_key_reused`, which is not what the positive checks are about. So every valid key
is replaced by a random one of the same length (at least 16 characters, so that two never
collide); invalid keys stay as drawn (the API must refuse them), and so do cases about the
Authorization header. A list's cursor (`starting_after`) is left out (see `_no_cursor`).
"""
import secrets
import string

import schemathesis

KEY = "idempotency-key"
ALPHABET = string.ascii_letters + string.digits
MIN_UNIQUE_LENGTH = 16


def _fresh_key(headers):
    for name in list(headers or ()):
        value = headers[name]
        if name.lower() == KEY and isinstance(value, str) and 1 <= len(value) <= 255 \
                and all(32 <= ord(c) <= 126 for c in value):
            length = max(len(value), MIN_UNIQUE_LENGTH)
            headers[name] = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return headers


def _no_cursor(query):
    """A list's `starting_after` must be an id the caller was given (else 422, as the contract
    says), which no schema can express and a fuzzer cannot know: the cursor is left out, as a
    client's first call does (the cursor tests are tests/e2e/test_cursor_pagination.py)."""
    if isinstance(query, dict):
        query.pop("starting_after", None)


def _no_inferred_strangers(case):
    """Positive cases are sometimes filled from what earlier responses held (schemathesis' pools),
    and a 409's `error` field has been sent as a query parameter of the refund quote: an unknown
    parameter, rightly refused with 422. In positive cases, query parameters the operation does
    not document are left out (negative cases keep them: the API must refuse them)."""
    mode = getattr(getattr(getattr(case.meta, "generation", None), "mode", None), "value", None)
    if mode != "positive" or not isinstance(case.query, dict):
        if mode == "positive" and isinstance(case.body, dict):
            case.body.pop("error", None)  # see below
        return
    try:
        documented = {parameter.name for parameter in case.operation.query}
    except Exception:  # another schemathesis shape: leave the case as drawn
        return
    for name in [name for name in case.query if name not in documented]:
        del case.query[name]
    if isinstance(case.body, dict) and "error" not in documented:
        # The same pools have put an error answer's `error` into a JSON body whose schema combines
        # `anyOf`/`not` (one way to pay, docs/saved-methods.md): no request body has that field.
        case.body.pop("error", None)


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    phase_data = getattr(getattr(case.meta, "phase", None), "data", None)
    if (getattr(phase_data, "parameter", None) or "").lower() == "authorization":
        return
    _fresh_key(case.headers)
    _no_cursor(case.query)
    _no_inferred_strangers(case)
