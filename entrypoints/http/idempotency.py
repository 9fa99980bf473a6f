"""`Idempotency-Key` on POSTs, as the contract says.

Keys are scoped to the user and the endpoint (method and path), stored in the database through
the `IdempotencyStore` port (so they hold across processes) and kept at least 24 hours. A repeat
with the same body (the same JSON value) replays the first answer with `Idempotent-Replayed:
true`; another body → 422 `idempotency_key_reused`; a repeat while the first is running → 409
`idempotency_request_in_progress`. Answers 400, 401, 403, 404 and 422 keep nothing, so the
request can be corrected and retried with the same key; a 5xx keeps nothing either (contract
v1.1): the work may have stopped half-way after a commit (the database failed while a session's
instructions were stored), and the retry with the same key resumes it (its ids derive from the
key, `ports.use_cases.payments.request_ids`) instead of being answered the failure for 24 hours.
A claim carries a lease: if its process dies, the key can be claimed again once the lease has run
out.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from entrypoints.http import errors
from entrypoints.http.body import NOT_JSON, parsed_body
from ports.clock import Clock
from ports.idempotency import IdempotencyScope, IdempotencyStore, StoredResponse

log = logging.getLogger("payments.idempotency")
HEADER = "Idempotency-Key"
LEASE = timedelta(seconds=30)
RETENTION = timedelta(hours=24)
NOT_KEPT = frozenset({400, 401, 403, 404, 422})
REPLAYED_HEADERS = ("Content-Type", "Location")


def fingerprint(body: bytes, parsed: Any) -> str:
    """A hash of the request body as a JSON value (`parsed`, from `body.parsed_body`): key order
    and white space do not matter. A body that is not JSON is hashed as it is."""
    canonical = body if parsed is NOT_JSON else json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()


def keeps(status: int) -> bool:
    """Whether an answer is kept and replayed: 2xx and 409 state conflicts are, 400, 401, 403,
    404, 422 and every 5xx are not (the retry runs, and resumes what the failed attempt began)."""
    return status not in NOT_KEPT and status < 500


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(32 <= ord(c) <= 126 for c in key)


class IdempotencyGuard:
    def __init__(self, store: IdempotencyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def __call__(self, request: web.Request, user_id: str,
                       handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        key = request.headers.get(HEADER)
        if key is None:
            return await handler(request)
        if not valid_key(key):
            raise errors.validation_error({HEADER: ["Must be 1-255 printable ASCII characters."]})
        scope = IdempotencyScope(user_id, f"{request.method} {request.path}", key)
        body = await request.read()
        claim = await self._store.begin(scope, fingerprint(body, await parsed_body(request)), self._clock.now(), LEASE)
        if isinstance(claim, StoredResponse):
            return _replay(claim)
        try:
            response = await handler(request)
        except Exception as error:  # every answer, errors included, is kept or released below
            response = errors.response_for(error, request)
        if not keeps(response.status) or not isinstance(response, web.Response):
            await self._store.release(claim)
        else:
            headers = {name: response.headers[name] for name in REPLAYED_HEADERS if name in response.headers}
            kept = await self._store.complete(claim, StoredResponse(response.status, bytes(response.body or b""),
                                                                    headers), self._clock.now())
            if not kept:
                log.warning("idempotency key of %s was taken over before this request finished", scope.endpoint)
        return response


def _replay(stored: StoredResponse) -> web.Response:
    response = web.Response(status=stored.status, body=stored.body, headers=dict(stored.headers))
    response.headers["Idempotent-Replayed"] = "true"
    return response
