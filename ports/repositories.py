"""Repository ports: how use cases load and store aggregates (the write side; reads that change
nothing go through `ports.queries`).

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

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.audit import AuditEntry
from domain.membership import Membership
from domain.refund import Refund
from domain.saved_method import SavedMethod
from domain.session import PaymentSession
from domain.transaction import Transaction


class DuplicateKeyError(Exception):
    """A unique key of the store is taken."""


class DuplicateEventError(DuplicateKeyError):
    """A provider event recorded with `ProcessedEventRepository.record` was recorded before (or
    by a unit of work that committed first): nothing of this unit of work may be committed."""


@dataclass(frozen=True)
class OrderOwner:
    """Who a provider order belongs to (`MembershipRepository.lock_for_order`): the transaction
    with a session of that order id, its user, and the user's membership, locked (None when the
    user has none yet); with `with_transaction`, that transaction with its sessions, locked after
    the membership (None when the membership is None: the caller creates it, then locks it)."""

    transaction_id: str
    user_id: str
    membership: Membership | None
    transaction: Transaction | None = None


class ConcurrentUpdateError(Exception):
    """`update()` of an aggregate that changed in the store since it was read (its `version`
    moved on), or that was never stored: the unit of work must be rolled back and retried."""


class TransactionRepository(Protocol):
    """Transactions with their payment sessions: the aggregate is loaded, locked and stored whole
    (`Transaction.sessions`, oldest first)."""

    async def add(self, transaction: Transaction) -> int:
        """Store a new transaction with its sessions, all or none (`DuplicateKeyError` when an id
        or order id is taken). Returns how many pending transactions the user had before it, read
        in the same step, so that a caller holding the user's membership lock can enforce a limit
        (and roll back when it is exceeded) without another read."""
        ...

    async def get(self, transaction_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> Transaction | None:
        """With its sessions, in one read; `for_update` locks the transaction, then its sessions
        (the lock order of the use cases: membership, transaction, sessions)."""
        ...

    async def get_by_session_order_id(self, order_id: str) -> Transaction | None:
        """The transaction one of whose sessions has this provider order id, with its sessions,
        not locked (a caller first locks the owner's membership, then `get(…, for_update=True)`)."""
        ...

    async def update(self, transaction: Transaction) -> None:
        """Store the transaction and its sessions: new sessions are inserted, changed ones updated
        (each version-checked like the transaction)."""
        ...

    async def list_pending_plan_changes(self, user_id: str, *, for_update: bool = False) -> list[Transaction]:
        """The user's `pending` plan_upgrade/plan_downgrade transactions, with their sessions."""
        ...

    async def claim_expirable(self, now: datetime, limit: int) -> list[Transaction]:
        """Up to `limit` transactions with their sessions, oldest first (`created_at`, then id),
        locked, that have a session stored open past its `expires_at`, or are `pending` with
        sessions none of which is open at `now` and the last one's `expires_at` passed. Rows
        locked by another unit of work are skipped, so several sweepers can run at once."""
        ...

    async def claim_due_for_check(self, now: datetime, limit: int) -> list[Transaction]:
        """Up to `limit` transactions with their sessions, locked, that have a session whose
        `next_check_at` ≤ `now` (earliest first), skipping rows locked by another unit of work (so
        concurrent reconcilers split the work)."""
        ...

    async def pending_renewals(self, user_id: str) -> list[Transaction]:
        """The user's `pending` plan_renewal transactions with their sessions, locked, oldest
        first (docs/renewals.md; the caller holds the user's membership lock)."""
        ...

    async def renewal_for(self, user_id: str, period_start: datetime) -> Transaction | None:
        """The user's plan_renewal for the period starting `period_start` (whatever its status),
        with its sessions, locked. There is at most one: `add` of a second raises `DuplicateKeyError`."""
        ...


class InstructionsRepository(Protocol):
    """The one write made outside a unit of work: a single atomic statement."""

    async def attach(self, session: PaymentSession) -> bool:
        """Store `session`'s payment URL, QR payload and provider reference, and its `updated_at`,
        if it is still stored `open` (whatever its version); False when it is not (it ended
        meanwhile: the instructions are not needed)."""
        ...


class MembershipRepository(Protocol):
    """Stores memberships together with their ledger: `add` and `update` also append the
    aggregate's `new_entries` to the receives ledger in the same unit of work, then clear them."""

    async def get(self, user_id: str, *, for_update: bool = False) -> Membership | None: ...

    async def add(self, membership: Membership) -> bool:
        """Insert a new membership; False (and nothing stored) when the user already has one."""
        ...

    async def update(self, membership: Membership) -> None: ...

    async def lock_for_order(self, order_id: str, *, with_transaction: bool = False) -> OrderOwner | None:
        """The owner of the provider order `order_id` (the transaction one of whose sessions has
        it, and that transaction's user) with the user's membership locked, in one read; None
        (and nothing locked) when no session has that order id. The lock is the first of the lock
        order membership → transaction → session: the caller locks the transaction next, or, with
        `with_transaction`, it comes locked in `OrderOwner.transaction` (as
        `TransactionRepository.get(…, for_update=True)` would return it; on PostgreSQL in the
        same read) when the membership exists."""
        ...

    async def claim_due_renewals(self, now: datetime, limit: int) -> list[Membership]:
        """Up to `limit` memberships whose `renewal_check_at` ≤ `now`, earliest first, locked;
        rows another unit of work holds are skipped (`FOR UPDATE SKIP LOCKED`), so the renewal
        jobs of several processes split the work (docs/renewals.md)."""
        ...


class ProcessedEventRepository(Protocol):
    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        """Record that a provider event was applied; False when it was already recorded."""
        ...

    async def record(self, provider: str, event_id: str, now: datetime) -> None:
        """Record that a provider event was applied, with this unit of work's other writes (on
        PostgreSQL queued with them: no round trip of its own). When it was recorded before, or
        by another unit of work that commits first, `DuplicateEventError` is raised at the
        latest by `commit()` (a read that sends the queued writes first may raise it sooner), and
        nothing of this unit of work is committed."""
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

    async def list_for_transaction(self, transaction_id: str) -> list[Refund]:
        """The transaction's refunds, oldest first, not locked (a caller that prices a new refund
        holds the transaction's lock, which every refund of it is made under)."""
        ...

    async def claim_follow_ups(self, now: datetime, limit: int) -> list[Refund]:
        """Up to `limit` pending refunds whose `next_attempt_at` is at or before `now`, the
        earliest first, locked for this unit of work; rows another one holds are skipped (`FOR
        UPDATE SKIP LOCKED`), so several workers split the follow-ups between them."""
        ...


class PayerLinkRepository(Protocol):
    async def link(self, payer_hash: str, user_id: str, paid_at: datetime) -> None:
        """Remember, in this unit of work, that the payer `payer_hash` (a keyed hash, never a
        provider's raw payer id) paid for `user_id` at `paid_at` (the latest time kept)."""
        ...


class AuditLogRepository(Protocol):
    async def add(self, entry: AuditEntry) -> None:
        """Append `entry`, in this unit of work (it commits or rolls back with the change it
        records). Nothing updates or deletes an entry."""
        ...


class SavedMethodRepository(Protocol):
    """Saved payment methods (docs/saved-methods.md). A caller that adds one or changes which is
    the default holds the owner's membership lock, which serialises them per user; the store keeps
    at most one default per user (a unique partial index in SQL) whatever happens."""

    async def add(self, method: SavedMethod) -> SavedMethod:
        """Store a new method, or, when its (provider, token) is stored already, change nothing and
        return the stored one (saving is idempotent by the provider's token)."""
        ...

    async def get(self, method_id: str, *, user_id: str | None = None, for_update: bool = False) -> SavedMethod | None:
        """One method, deleted ones included (a caller checks `deleted`)."""
        ...

    async def list_for_user(self, user_id: str) -> list[SavedMethod]:
        """The user's methods that are not deleted, newest first (`created_at`, then id)."""
        ...

    async def has_default(self, user_id: str) -> bool: ...

    async def set_default(self, user_id: str, method_id: str, now: datetime) -> None:
        """Make `method_id` (the user's, not deleted) the only default, atomically with clearing
        the previous one (in this unit of work)."""
        ...

    async def update(self, method: SavedMethod) -> None: ...

    async def awaiting_method(self, completed_before: datetime, limit: int) -> list[tuple[str, str]]:
        """(transaction id, session id) of up to `limit` sessions paid with `save_method` at or
        before `completed_before` whose method was not stored yet, the newest first (the heal step
        of docs/saved-methods.md: a few that keep failing never hold up the recent ones)."""
        ...


class ProviderCustomerRepository(Protocol):
    """Each user's customer at a provider that keeps saved methods (Stripe `cus_…`): one per user
    and provider."""

    async def get(self, user_id: str, provider: str) -> str | None: ...

    async def add(self, user_id: str, provider: str, customer_reference: str, now: datetime) -> str:
        """Store the user's customer unless one is stored already; returns the stored one (the
        first writer wins)."""
        ...
