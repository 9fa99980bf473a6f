"""The read side: what callers see, read apart from the unit of work and its locks.

The write side (`ports.unit_of_work`, `ports.repositories`) loads aggregates to change them, in a
database transaction, locked. A read that changes nothing needs none of that: each method here
is one consistent read of committed data (one statement, no transaction, no lock), and returns
snapshots the use cases turn into views (`ports.use_cases.views`). Changing a returned object
changes nothing stored.

    session = await queries.session(session_id, user_id=user_id)   # None: not found or not theirs
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


@attrs.frozen
class TransactionQuery:
    """Filters and page of a user's transaction history (newest first). `date_from`/`date_to`
    bound `created_at` inclusively; empty tuples mean "any"."""

    types: tuple[TransactionType, ...] = ()
    statuses: tuple[TransactionStatus, ...] = ()
    date_from: datetime | None = None
    date_to: datetime | None = None
    page: int = 1
    limit: int = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


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

    async def membership(self, user_id: str) -> Membership | None:
        """The membership as stored (it may be behind the current period: see
        `Membership.is_current_at`)."""
        ...

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        """The user's receives ledger, oldest first."""
        ...

    async def refunds_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        """Up to `limit` refunds still `pending` that were created at or before `created_before`,
        oldest first."""
        ...

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        """The transaction's refunds, oldest first."""
        ...
