"""The ids of what one request creates: random, or derived from the client's Idempotency-Key."""
from __future__ import annotations

from datetime import datetime

import attrs

from ports.ids import IdGenerator


@attrs.frozen
class RequestIds:
    """Random ids, or, when the client sent an Idempotency-Key, ids derived from (user, operation,
    key). A retry whose first attempt died after committing then finds the transaction it made
    and resumes it, instead of making a second one."""

    _ids: IdGenerator
    _seed: str | None

    @classmethod
    def of(cls, ids: IdGenerator, user_id: str, operation: str, request_key: str | None) -> RequestIds:
        return cls(ids, None if request_key is None else f"{user_id}\x00{operation}\x00{request_key}")

    @property
    def derived(self) -> bool:
        return self._seed is not None

    def id(self, prefix: str) -> str:
        return self._ids.new_id(prefix) if self._seed is None else self._ids.derived_id(prefix, f"{self._seed}/{prefix}")

    def order_id(self, kind: str, now: datetime) -> str:
        return (self._ids.new_order_id(kind, now) if self._seed is None
                else self._ids.derived_order_id(kind, f"{self._seed}/{kind}"))
