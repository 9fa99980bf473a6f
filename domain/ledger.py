"""The receives ledger: every change of a user's receives balance is an entry.

A user's balance is always the sum of their entries, split in two buckets: the monthly
`allowance` (granted at each period start, expired at its end) and `purchased` receives
(which never expire). Entries are immutable facts; corrections are new entries.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime

import attrs


class LedgerKind(str, enum.Enum):
    PURCHASE = "purchase"
    ALLOWANCE_GRANT = "allowance_grant"
    CONSUMPTION = "consumption"
    REFUND = "refund"                  # purchased receives held for (or taken back by) a refund
    REFUND_RELEASE = "refund_release"  # held receives given back: the refund was rejected or cancelled
    ALLOWANCE_EXPIRY = "allowance_expiry"


class Bucket(str, enum.Enum):
    ALLOWANCE = "allowance"
    PURCHASED = "purchased"


@attrs.frozen
class LedgerEntry:
    """`delta` receives added to (or, negative, taken from) one bucket of a user's balance.

    `reference` ties the entry to its cause: a transaction id, a consumption reference, a period.
    """

    user_id: str
    kind: LedgerKind
    bucket: Bucket
    delta: int
    reference: str
    created_at: datetime

    def __attrs_post_init__(self) -> None:
        if type(self.delta) is not int or self.delta == 0:
            raise ValueError("a ledger entry moves a non-zero whole number of receives")


@attrs.frozen
class Balance:
    allowance: int
    purchased: int

    @property
    def total(self) -> int:
        return self.allowance + self.purchased

    @classmethod
    def of(cls, entries: Iterable[LedgerEntry]) -> Balance:
        allowance = purchased = 0
        for entry in entries:
            if entry.bucket is Bucket.ALLOWANCE:
                allowance += entry.delta
            else:
                purchased += entry.delta
        return cls(allowance, purchased)
