"""The ids of what one request creates: random, or derived from the client's Idempotency-Key."""
from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from ports.ids import IdGenerator

# How long a retry resumes what its first attempt made: less than the 24 hours an
# Idempotency-Key is kept (`entrypoints.http.idempotency.RETENTION`), so a key reused after its
# record was purged always makes new objects instead of answering the old ones.
RESUME_WINDOW = timedelta(hours=23)


@attrs.frozen
class RequestIds:
    """Random ids, or, when the client sent an Idempotency-Key, ids derived from (user, operation,
    key) with the server's secret (`IdGenerator.derived_id`, a keyed HMAC). A retry whose first
    attempt died after committing then finds the transaction it made and resumes it, instead of
    making a second one.

    A key can be used again once its record was purged (24 h): that is a new request. The ids
    then carry a generation: when the ids of generation n are taken by objects older than
    `RESUME_WINDOW`, the request takes generation n + 1 (and its own retries find it there)."""

    _ids: IdGenerator
    _seed: str | None
    _generation: int = 0

    @classmethod
    def of(cls, ids: IdGenerator, user_id: str, operation: str, request_key: str | None) -> RequestIds:
        return cls(ids, None if request_key is None else f"{user_id}\x00{operation}\x00{request_key}")

    @property
    def derived(self) -> bool:
        return self._seed is not None

    def resumes(self, created_at: datetime, now: datetime) -> bool:
        """Whether objects of these ids created at `created_at` are this request's own (a retry
        resumes them), rather than those of an earlier use of the key."""
        return now - created_at < RESUME_WINDOW

    def next_generation(self) -> RequestIds:
        return RequestIds(self._ids, self._seed, self._generation + 1)

    def _derivation(self, name: str) -> str:
        generation = f"#{self._generation}" if self._generation else ""
        return f"{self._seed}{generation}/{name}"

    def id(self, prefix: str) -> str:
        return self._ids.new_id(prefix) if self._seed is None else self._ids.derived_id(prefix, self._derivation(prefix))

    def order_id(self, kind: str, now: datetime) -> str:
        return (self._ids.new_order_id(kind, now) if self._seed is None
                else self._ids.derived_order_id(kind, self._derivation(kind)))
