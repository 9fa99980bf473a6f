"""The receives ledger: immutable non-zero entries whose sum per bucket is the balance."""
from datetime import datetime, timezone

import attrs
import pytest

from domain.ledger import Balance, Bucket, LedgerEntry, LedgerKind

NOW = datetime(2025, 1, 31, 10, tzinfo=timezone.utc)


def entry(bucket: Bucket, delta: int, kind: LedgerKind = LedgerKind.PURCHASE) -> LedgerEntry:
    return LedgerEntry("u1", kind, bucket, delta, "ref", NOW)


def test_the_balance_of_no_entries_is_zero():
    assert Balance.of([]) == Balance(0, 0)
    assert Balance.of([]).total == 0


def test_the_balance_sums_the_entries_of_each_bucket_separately():
    entries = [
        entry(Bucket.ALLOWANCE, 3, LedgerKind.ALLOWANCE_GRANT),
        entry(Bucket.PURCHASED, 10, LedgerKind.PURCHASE),
        entry(Bucket.ALLOWANCE, -2, LedgerKind.CONSUMPTION),
        entry(Bucket.PURCHASED, -4, LedgerKind.CONSUMPTION),
        entry(Bucket.ALLOWANCE, -1, LedgerKind.ALLOWANCE_EXPIRY),
        entry(Bucket.PURCHASED, -1, LedgerKind.REFUND),
    ]

    balance = Balance.of(entries)

    assert balance == Balance(allowance=0, purchased=5)
    assert balance.total == 5


def test_the_balance_accepts_any_iterable_of_entries():
    balance = Balance.of(entry(Bucket.PURCHASED, n) for n in (1, 2, 3))

    assert balance == Balance(0, 6)


def test_the_total_is_allowance_plus_purchased():
    assert Balance(allowance=15, purchased=12).total == 27


@pytest.mark.parametrize("delta", [0, True, 1.0, None])
def test_an_entry_moves_a_non_zero_whole_number_of_receives(delta):
    with pytest.raises(ValueError):
        entry(Bucket.PURCHASED, delta)


def test_an_entry_is_an_immutable_fact():
    fact = entry(Bucket.PURCHASED, 5)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        fact.delta = 6


def test_ledger_kinds_and_buckets_have_stable_stored_values():
    assert {kind.value for kind in LedgerKind} == {
        "purchase", "allowance_grant", "consumption", "refund", "refund_release", "allowance_expiry"}
    assert {bucket.value for bucket in Bucket} == {"allowance", "purchased"}
