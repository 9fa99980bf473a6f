"""Repository ports: how use cases load and store aggregates.

Shared contract of every repository:
- Methods work inside the unit of work that owns the repository; nothing is visible to other
  units of work before `commit()`.
- `for_update=True` locks what it returns until the unit of work ends (`SELECT … FOR UPDATE`
  on PostgreSQL), so read-modify-write sequences never lose an update across processes.
- `update()` stores the aggregate's current state if nobody changed it since it was read
  (`ConcurrentUpdateError` otherwise) and bumps its `version`; `add()` inserts a new one and
  raises `DuplicateKeyError` when a unique key (id, order id) is taken.
- `get(…, for_update=True)` of a row that does not exist locks nothing.
- `user_id=` arguments scope a read to one owner: someone else's object reads as None.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import attrs

from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.refund import Refund
from domain.session import PaymentSession
from domain.transaction import Transaction, TransactionStatus, TransactionType


class DuplicateKeyError(Exception):
    """A unique key of the store is taken."""


class ConcurrentUpdateError(Exception):
    """`update()` of an aggregate that changed in the store since it was read (its `version`
    moved on), or that was never stored: the unit of work must be rolled back and retried."""


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


class TransactionRepository(Protocol):
    async def add(self, transaction: Transaction) -> None: ...

    async def get(self, transaction_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> Transaction | None: ...

    async def update(self, transaction: Transaction) -> None: ...

    async def get_with_sessions(self, transaction_id: str, *, user_id: str | None = None, for_update: bool = False
                                ) -> tuple[Transaction, list[PaymentSession]] | None:
        """The transaction and its sessions (oldest first), in one read; with `for_update` all
        are locked, the transaction first (the lock order of the use cases)."""
        ...

    async def add_with_session(self, transaction: Transaction, session: PaymentSession) -> int:
        """Store a new transaction with its first session, in one step (`DuplicateKeyError` when
        an id or order id is taken); returns how many pending transactions the user had before
        it, so that a caller holding the user's membership lock can enforce a limit (and roll
        back when it is exceeded) without another read."""
        ...

    async def count_pending(self, user_id: str) -> int:
        """How many of the user's transactions are `pending`."""
        ...

    async def list_pending_plan_changes(self, user_id: str, *, for_update: bool = False) -> list[Transaction]:
        """The user's `pending` plan_upgrade/plan_downgrade transactions."""
        ...

    async def list_for_user(self, user_id: str, query: TransactionQuery) -> tuple[list[Transaction], int]:
        """One page of the user's transactions matching `query`, newest first (ties broken by id,
        descending), and the total number that match."""
        ...

    async def list_expirable(self, now: datetime, limit: int) -> list[Transaction]:
        """Up to `limit` `pending` transactions, locked, that have no session open at `now` and
        whose last session's `expires_at` has passed. Rows locked by another unit of work are
        skipped, so several sweepers can run at once."""
        ...


class SessionRepository(Protocol):
    async def add(self, session: PaymentSession) -> None: ...

    async def get(self, session_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> PaymentSession | None: ...

    async def get_by_order_id(self, order_id: str, *, for_update: bool = False) -> PaymentSession | None: ...

    async def update(self, session: PaymentSession) -> None: ...

    async def list_for_transaction(self, transaction_id: str, *, for_update: bool = False) -> list[PaymentSession]:
        """The transaction's sessions, oldest first."""
        ...

    async def attach_instructions(self, session: PaymentSession) -> bool:
        """Store `session`'s payment URL, QR payload and provider reference, and its
        `updated_at`, in one atomic statement, if it is still stored `open` (whatever its
        version); False when it is not (it ended meanwhile: the instructions are not needed)."""
        ...

    async def list_due_for_expiry(self, now: datetime, limit: int) -> list[PaymentSession]:
        """Up to `limit` sessions stored `open` whose `expires_at` ≤ `now`, locked, skipping rows
        locked by another unit of work."""
        ...

    async def list_due_for_check(self, now: datetime, limit: int) -> list[PaymentSession]:
        """Up to `limit` sessions whose `next_check_at` ≤ `now`, earliest first, locked, skipping
        rows locked by another unit of work (so concurrent reconcilers split the work)."""
        ...


class MembershipRepository(Protocol):
    """Stores memberships together with their ledger: `add` and `update` also append the
    aggregate's `new_entries` to the receives ledger in the same unit of work, then clear them."""

    async def get(self, user_id: str, *, for_update: bool = False) -> Membership | None: ...

    async def add(self, membership: Membership) -> bool:
        """Insert a new membership; False (and nothing stored) when the user already has one."""
        ...

    async def update(self, membership: Membership) -> None: ...

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        """The user's ledger entries, oldest first."""
        ...


class ProcessedEventRepository(Protocol):
    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        """Record that a provider event was applied; False when it was already recorded."""
        ...


class ConsumptionRepository(Protocol):
    async def add(self, user_id: str, reference: str, count: int, now: datetime) -> bool:
        """Record a consumption by its unique (user, reference); False when it exists already."""
        ...


class RefundRepository(Protocol):
    async def add(self, refund: Refund) -> None: ...

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None: ...

    async def update(self, refund: Refund) -> None: ...

    async def get_by_refund_order_id(self, refund_order_id: str, *, for_update: bool = False) -> Refund | None: ...

    async def list_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        """Up to `limit` refunds still `pending` that were created at or before `created_before`,
        oldest first."""
        ...

    async def list_for_transaction(self, transaction_id: str) -> Sequence[Refund]: ...
