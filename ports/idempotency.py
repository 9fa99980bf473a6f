"""The idempotency store: `Idempotency-Key`s, their request fingerprints and stored responses.

Keys are scoped to (user, endpoint) and kept at least 24 hours. The store must be shared by every
process of the service (a database table), and `begin` must be atomic across them (a unique key).
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import attrs


@attrs.frozen
class IdempotencyScope:
    user_id: str
    endpoint: str  # "POST /api/v1/payments/receives"
    key: str


@attrs.frozen
class StoredResponse:
    status: int
    body: bytes
    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.frozen
class IdempotencyClaim:
    """The right to run the first request of a scope. `token` is the claim's lease end: a
    takeover after the lease ran out sets another, so a slow original can no longer complete or
    release what its successor holds."""

    scope: IdempotencyScope
    token: datetime


@attrs.frozen
class IdempotencyRecord:
    scope: IdempotencyScope
    fingerprint: str  # a hash of the canonical request body
    response: StoredResponse | None  # None while the first request is in flight
    locked_until: datetime | None
    created_at: datetime


class IdempotencyStore(Protocol):
    async def begin(self, scope: IdempotencyScope, fingerprint: str, now: datetime,
                    lease: timedelta) -> StoredResponse | IdempotencyClaim:
        """Claim `scope` for a new request (an `IdempotencyClaim`); or answer the stored response
        of the completed first request (to replay).

        Raises `IdempotencyKeyReusedError` when the key was used with another fingerprint, and
        `IdempotencyRequestInProgressError` while the first request holds its lease (a claim
        whose lease ran out, because its process died, may be taken over).
        """
        ...

    async def complete(self, claim: IdempotencyClaim, response: StoredResponse, now: datetime) -> bool:
        """Store the response of the request holding `claim`; False (nothing stored) when the
        claim is no longer held (taken over after its lease ran out, or released)."""
        ...

    async def release(self, claim: IdempotencyClaim) -> None:
        """Forget the scope if `claim` still holds it (a 400/401/403/404/422 answer keeps
        nothing, so the request can be corrected and retried)."""
        ...

    async def purge(self, older_than: datetime) -> int:
        """Delete keys created before `older_than`; returns how many."""
        ...
