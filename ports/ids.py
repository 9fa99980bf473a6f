"""Identifier generation: opaque object ids and merchant order numbers."""
from __future__ import annotations

import re
from datetime import datetime
from typing import Protocol

ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9]{6,32}$")


class IdGenerator(Protocol):
    def new_id(self, prefix: str) -> str:
        """A new opaque, unique, unguessable id such as `txn_…` (`prefix` without the underscore)."""
        ...

    def derived_id(self, prefix: str, seed: str) -> str:
        """The id `new_id` would give, but always the same for the same `seed` (a retried
        request recreates the same objects, and unique keys make the second attempt a no-op)."""
        ...

    def derived_order_id(self, kind: str, seed: str) -> str:
        """A merchant order number like `new_order_id`'s, always the same for the same `seed`."""
        ...

    def new_order_id(self, kind: str, now: datetime) -> str:
        """A new merchant order number: unique, 6-32 characters of `[A-Za-z0-9]` (WeChat Pay's
        `out_trade_no` is the strictest provider rule), starting with the one-letter `kind`
        (`P` transaction, `S` session, `R` refund) and the UTC date of `now`."""
        ...
