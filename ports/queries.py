"""The read side: what callers see, read apart from the unit of work and its locks.

The write side (`ports.unit_of_work`, `ports.repositories`) loads aggregates to change them, in a
database transaction, locked. A read that changes nothing needs none of that: each method here
is one consistent read of committed data (one statement, no transaction, no lock), and returns
snapshots the use cases turn into views (`ports.use_cases.views`). Changing a returned object
changes nothing stored.

    session = await queries.session(session_id, user_id=user_id)   # None: not found or not theirs

Lists come two ways (`docs/http-api.md`, "Pagination"): pages (`page`, `limit`, with the total)
and keyset pages after a cursor, an item the caller was given (`history_after`, `ledger_after`):
the items that follow it in the list's order, found through an index whatever the depth, and the
same while new items arrive. A cursor that is not one of the user's items reads as None.
"""
from __future__ import annotations

from datetime import datetime
from typing import Protocol

import attrs

from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.refund import Refund
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionStatus, TransactionType

LEDGER_ID_PREFIX = "rle_"


@attrs.frozen
class TransactionQuery:
    """Filters and page of a user's transaction history (newest first). `date_from`/`date_to`
    bound `created_at` inclusively; empty tuples mean "any".

    With `as_of`, transactions are read as at that instant (`read_at`): a pending one whose
    attempts have all lapsed by then is `expired`, in the items and in the `statuses` filter
    (`expired` includes it, `pending` leaves it out). Without it, statuses are as stored."""

    types: tuple[TransactionType, ...] = ()
    statuses: tuple[TransactionStatus, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = 1
    limit: int = 20
    as_of: datetime | None = None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


@attrs.frozen
class LedgerLine:
    """A ledger entry as its owner reads it: its opaque, stable `id` (`ledger_id`) and the user's
    total balance right after it (the sum of their entries up to and including it)."""

    id: str
    entry: LedgerEntry
    balance_after: int


def ledger_id(sequence: int) -> str:
    """The public id of the ledger entry stored `sequence`-th (`rle_42`)."""
    return f"{LEDGER_ID_PREFIX}{sequence}"


def ledger_sequence(entry_id: str) -> int | None:
    """The stored sequence number a `ledger_id` stands for; None for anything else."""
    digits = entry_id[len(LEDGER_ID_PREFIX):] if entry_id.startswith(LEDGER_ID_PREFIX) else ""
    if not digits.isascii() or not digits.isdigit() or len(digits) > 18 or digits.startswith("0"):
        return None
    return int(digits)


def read_at(transaction: Transaction, now: datetime) -> Transaction:
    """`transaction` (with its sessions) as a reader sees it at `now`: a pending one whose attempts
    have all lapsed reads `expired` at once (`Transaction.status_at`), last updated when its last
    attempt lapsed (its sessions' latest `expires_at`), never completed. The expiry sweep stores
    the same status a little later, with its own time as `updated_at`. Anything else is returned
    as it is."""
    if transaction.status_at(now) is transaction.status:
        return transaction
    return lapsed(transaction, max(s.expires_at for s in transaction.sessions))


def lapsed(transaction: Transaction, lapsed_at: datetime) -> Transaction:
    """A copy of the pending `transaction` as read once its last attempt lapsed at `lapsed_at`
    (`read_at`, for a reader that knows that moment without the sessions)."""
    return attrs.evolve(transaction, status=TransactionStatus.EXPIRED,
                        updated_at=max(transaction.updated_at, lapsed_at),
                        events=[], sessions=list(transaction.sessions))


class PaymentQueries(Protocol):
    """Reads for callers; `user_id` scopes each to its owner (someone else's object reads as None)."""

    async def session(self, session_id: str, *, user_id: str | None = None) -> PaymentSession | None:
        """One payment session (the poll: the cheapest read there is)."""
        ...

    async def transaction(self, transaction_id: str, *, user_id: str | None = None) -> Transaction | None:
        """One transaction with its sessions, oldest first."""
        ...

    async def history(self, user_id: str, query: TransactionQuery) -> tuple[list[Transaction], int]:
        """One page of the user's transactions matching `query`, newest first (ties broken by id,
        descending), without their sessions, and the total number that match."""
        ...

    async def history_after(self, user_id: str, query: TransactionQuery,
                            starting_after: str) -> tuple[list[Transaction], bool] | None:
        """Up to `query.limit` of the user's transactions matching `query` that come after
        transaction `starting_after` in the history's order (created_at, id; newest first),
        without their sessions, and whether more follow; `query.page` is ignored. The cursor
        need not match the filters. None when `starting_after` is not one of the user's
        transactions."""
        ...

    async def membership(self, user_id: str) -> Membership | None:
        """The membership as stored (it may be behind the current period: see
        `Membership.is_current_at`)."""
        ...

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        """The user's receives ledger, oldest first."""
        ...

    async def ledger_page(self, user_id: str, page: int, limit: int) -> tuple[list[LedgerLine], int]:
        """Page `page` (of `limit` lines) of the user's ledger, newest first, and how many lines
        it has in all."""
        ...

    async def ledger_after(self, user_id: str, starting_after: str,
                           limit: int) -> tuple[list[LedgerLine], bool] | None:
        """Up to `limit` lines of the user's ledger older than line `starting_after`, newest
        first, and whether more follow; None when it is not one of the user's lines."""
        ...

    async def refunds_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        """Up to `limit` refunds still `pending` that were created at or before `created_before`,
        oldest first."""
        ...

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        """The transaction's refunds, oldest first."""
        ...
