"""In-memory adapters: honest fakes of the repositories, the unit of work and the idempotency store.

They keep the ports' contracts (checked by the shared contract tests): nothing is visible before
`commit()`, a unit of work rolls back unless committed, unique keys raise `DuplicateKeyError`,
`for_update` holds a per-row lock until the unit of work ends, and aggregates are copied in and
out so that changing a loaded object changes nothing until it is stored. One process only.
"""
from __future__ import annotations

import asyncio
import copy
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs

from domain.errors import IdempotencyKeyReusedError, IdempotencyRequestInProgressError
from domain.audit import AuditEntry
from domain.events import Event
from domain.ledger import LedgerEntry
from domain.membership import Membership
from domain.outbox import OutboxEvent, pending
from domain.refund import Refund, RefundStatus
from domain.saved_method import SavedMethod
from domain.session import PaymentSession, SessionStatus
from domain.transaction import PLAN_CHANGE_TYPES, Transaction
from ports.idempotency import IdempotencyClaim, IdempotencyRecord, IdempotencyScope, StoredResponse
from ports.events import EventDispatcher
from ports.outbox import EventRecorder
from ports.queries import LedgerLine, TransactionQuery, ledger_id, ledger_sequence, read_at
from ports.repositories import ConcurrentUpdateError, DuplicateEventError, DuplicateKeyError, OrderOwner


@attrs.define
class InMemoryStore:
    """The committed state, shared by every unit of work made from it."""

    transactions: dict[str, Transaction] = attrs.field(factory=dict)  # each with its sessions
    memberships: dict[str, Membership] = attrs.field(factory=dict)
    ledger: list[LedgerEntry] = attrs.field(factory=list)
    processed_events: set[tuple[str, str]] = attrs.field(factory=set)
    consumptions: dict[tuple[str, str], int] = attrs.field(factory=dict)
    refunds: dict[str, Refund] = attrs.field(factory=dict)
    audit_log: list[AuditEntry] = attrs.field(factory=list)  # append-only, oldest first
    risk_payers: dict[tuple[str, str], datetime] = attrs.field(factory=dict)  # (payer hash, user) -> last paid
    outbox: list[OutboxEvent] = attrs.field(factory=list)  # events to the main backend, in commit order
    saved_methods: dict[str, SavedMethod] = attrs.field(factory=dict)  # docs/saved-methods.md
    provider_customers: dict[tuple[str, str], str] = attrs.field(factory=dict)  # (user, provider) -> customer
    row_locks: defaultdict[tuple[str, str], asyncio.Lock] = attrs.field(factory=lambda: defaultdict(asyncio.Lock))

    @property
    def sessions(self) -> dict[str, PaymentSession]:
        """Every committed payment session by id (they are stored with their transactions)."""
        return {s.id: s for t in self.transactions.values() for s in t.sessions}


class _Staging:
    """Writes of one unit of work, applied to the store on commit."""

    def __init__(self, store: InMemoryStore) -> None:
        self.store = store
        self.writes: dict[tuple[str, str], Any] = {}
        self.ledger: list[LedgerEntry] = []
        self.processed_events: set[tuple[str, str]] = set()
        self.recorded_events: set[tuple[str, str]] = set()  # by `record`: checked again at commit
        self.consumptions: dict[tuple[str, str], int] = {}
        self.audit_log: list[AuditEntry] = []
        self.touched: list[Any] = []
        self.held_locks: list[asyncio.Lock] = []

    def read(self, table: str, key: str) -> Any:
        if (table, key) in self.writes:
            return copy.deepcopy(self.writes[(table, key)])
        found = getattr(self.store, table).get(key)
        return copy.deepcopy(found)

    def rows(self, table: str) -> list[Any]:
        merged = dict(getattr(self.store, table))
        merged.update({key: value for (t, key), value in self.writes.items() if t == table})
        return [copy.deepcopy(v) for v in merged.values()]

    def write(self, table: str, key: str, aggregate: Any, *, new: bool = False) -> None:
        """Stage `aggregate`. An update must start from the stored `version` (a lost update or
        an update of something never stored raises, as in SQL) and bumps it; so do the changed
        sessions of a transaction, each against its own stored version."""
        current = None if new else self.writes.get((table, key), getattr(self.store, table).get(key))
        if not new and (current is None or current.version != aggregate.version):
            raise ConcurrentUpdateError(f"{table} {key} changed since it was read, or was never stored")
        if isinstance(aggregate, Transaction):
            _bump_changed_sessions(aggregate, current)
        if not new:
            aggregate.version += 1
        stored = copy.deepcopy(aggregate)
        _clear_events(stored)
        self.writes[(table, key)] = stored
        self.touched.append(aggregate)

    async def lock(self, table: str, key: str) -> None:
        lock = self.store.row_locks[(table, key)]
        if lock in self.held_locks:
            return
        await lock.acquire()
        self.held_locks.append(lock)

    async def claim(self, table: str, candidates: list[Any], limit: int) -> list[Any]:
        """The first `limit` of `candidates` not locked by another unit of work, now locked
        (`FOR UPDATE SKIP LOCKED`)."""
        found = []
        for aggregate in candidates:
            if len(found) == limit:
                break
            if self.store.row_locks[(table, aggregate.id)].locked():
                continue
            await self.lock(table, aggregate.id)
            found.append(aggregate)
        return found

    def release_locks(self) -> None:
        for lock in self.held_locks:
            lock.release()
        self.held_locks.clear()


def _session_state(session: PaymentSession) -> dict[str, Any]:
    return attrs.asdict(session, recurse=False, filter=lambda field, _: field.name not in ("events", "version"))


def _bump_changed_sessions(transaction: Transaction, stored: Transaction | None) -> None:
    """Bump the version of each session that differs from its stored state (as the SQL adapter's
    version-checked session updates do); a session changed elsewhere since it was read raises."""
    before = {s.id: s for s in stored.sessions} if stored is not None else {}
    for session in transaction.sessions:
        old = before.get(session.id)
        if old is None:
            continue  # new: stored as it is
        if _session_state(old) != _session_state(session):
            if old.version != session.version:
                raise ConcurrentUpdateError(f"session {session.id} changed since it was read")
            session.version += 1


def _clear_events(aggregate: Any) -> None:
    aggregate.events = []
    for session in getattr(aggregate, "sessions", ()):
        session.events = []


def _events_of(aggregate: Any) -> list[Event]:
    if isinstance(aggregate, Transaction):
        return aggregate.collect_events()
    events, aggregate.events = list(aggregate.events), []
    return events


class InMemoryTransactionRepository:
    """Transactions stored whole, with their sessions (one lock per transaction covers them)."""

    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, transaction: Transaction) -> int:
        existing = self._s.rows("transactions")
        taken_sessions = {key for t in existing for s in t.sessions for key in (s.id, s.order_id)}
        if any(t.id == transaction.id or t.order_id == transaction.order_id for t in existing) \
                or any(s.id in taken_sessions or s.order_id in taken_sessions for s in transaction.sessions):
            raise DuplicateKeyError(transaction.id)  # before anything is stored: all or nothing
        if transaction.renewal_period_start is not None and any(
                t.user_id == transaction.user_id and t.renewal_period_start == transaction.renewal_period_start
                for t in existing):
            raise DuplicateKeyError(transaction.id)  # the unique index: one renewal per user and period
        pending = sum(1 for t in existing if t.user_id == transaction.user_id and t.is_pending)
        self._s.write("transactions", transaction.id, transaction, new=True)
        return pending

    async def get(self, transaction_id: str, *, user_id: str | None = None,
                  for_update: bool = False) -> Transaction | None:
        found = self._s.read("transactions", transaction_id)
        if found is None or (user_id is not None and found.user_id != user_id):
            return None  # nothing found locks nothing
        if for_update:
            await self._s.lock("transactions", transaction_id)
            found = self._s.read("transactions", transaction_id)  # as it is once the lock is ours
        return found

    async def get_by_session_order_id(self, order_id: str) -> Transaction | None:
        return next((t for t in self._s.rows("transactions") if any(s.order_id == order_id for s in t.sessions)),
                    None)

    async def update(self, transaction: Transaction) -> None:
        stored = self._s.read("transactions", transaction.id)
        known = {s.id for s in stored.sessions} if stored is not None else set()
        new = [s for s in transaction.sessions if s.id not in known]
        if new:
            taken = {key for t in self._s.rows("transactions") for s in t.sessions for key in (s.id, s.order_id)}
            if any(s.id in taken or s.order_id in taken for s in new):
                raise DuplicateKeyError(new[0].id)
        self._s.write("transactions", transaction.id, transaction)

    async def list_pending_plan_changes(self, user_id: str, *, for_update: bool = False) -> list[Transaction]:
        found = [t for t in self._s.rows("transactions")
                 if t.user_id == user_id and t.is_pending and t.type in PLAN_CHANGE_TYPES]
        for t in found if for_update else ():
            await self._s.lock("transactions", t.id)
        return sorted(found, key=lambda t: (t.created_at, t.id))

    async def claim_expirable(self, now: datetime, limit: int) -> list[Transaction]:
        def due(t: Transaction) -> bool:
            lapsed = [s for s in t.sessions if s.status is SessionStatus.OPEN and s.expires_at <= now]
            lapsed_attempts = t.is_pending and t.attempts_lapsed(now)
            return bool(lapsed) or lapsed_attempts
        candidates = sorted((t for t in self._s.rows("transactions") if due(t)), key=lambda t: (t.created_at, t.id))
        return await self._s.claim("transactions", candidates, limit)

    async def claim_due_for_check(self, now: datetime, limit: int) -> list[Transaction]:
        def first_due(t: Transaction) -> datetime | None:
            return min((s.next_check_at for s in t.sessions if s.next_check_at is not None and s.next_check_at <= now),
                       default=None)
        due = [t for t in self._s.rows("transactions") if first_due(t) is not None]
        return await self._s.claim("transactions", sorted(due, key=lambda t: (first_due(t), t.id)), limit)

    async def pending_renewals(self, user_id: str) -> list[Transaction]:
        found = [t for t in self._s.rows("transactions")
                 if t.user_id == user_id and t.is_pending and t.renewal_period_start is not None]
        return [await self.get(t.id, for_update=True) for t in sorted(found, key=lambda t: (t.created_at, t.id))]

    async def renewal_for(self, user_id: str, period_start: datetime) -> Transaction | None:
        found = next((t for t in self._s.rows("transactions")
                      if t.user_id == user_id and t.renewal_period_start == period_start), None)
        return None if found is None else await self.get(found.id, for_update=True)


class InMemoryInstructions:
    """`ports.repositories.InstructionsRepository`: a write straight to the committed store,
    waiting, like the SQL statement, for a unit of work that holds the transaction's lock."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def attach(self, session: PaymentSession) -> bool:
        async with self._store.row_locks[("transactions", session.transaction_id)]:
            transaction = self._store.transactions.get(session.transaction_id)
            stored = next((s for s in transaction.sessions if s.id == session.id), None) if transaction else None
            if stored is None or stored.status is not SessionStatus.OPEN:
                return False
            stored.attach_instructions(session.payment_url, session.qr_code, session.provider_reference,
                                       session.updated_at)
            stored.version += 1
            return True


class InMemoryMembershipRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def get(self, user_id: str, *, for_update: bool = False) -> Membership | None:
        if for_update:
            await self._s.lock("memberships", user_id)
        return self._s.read("memberships", user_id)

    async def add(self, membership: Membership) -> bool:
        if self._s.read("memberships", membership.user_id) is not None:
            return False
        self._store(membership, new=True)
        return True

    async def update(self, membership: Membership) -> None:
        self._store(membership, new=False)

    async def lock_for_order(self, order_id: str, *, with_transaction: bool = False) -> OrderOwner | None:
        found = next((t for t in self._s.rows("transactions") if any(s.order_id == order_id for s in t.sessions)),
                     None)
        if found is None:
            return None
        membership = await self.get(found.user_id, for_update=True)
        transaction = None
        if with_transaction and membership is not None:  # locked after the membership
            transaction = await InMemoryTransactionRepository(self._s).get(found.id, for_update=True)
        return OrderOwner(found.id, found.user_id, membership, transaction)

    async def claim_due_renewals(self, now: datetime, limit: int) -> list[Membership]:
        due = sorted((m for m in self._s.rows("memberships")
                      if m.renewal_check_at is not None and m.renewal_check_at <= now),
                     key=lambda m: (m.renewal_check_at, m.user_id))
        found = []
        for membership in due:
            if len(found) == limit:
                break
            if self._s.store.row_locks[("memberships", membership.user_id)].locked():
                continue  # FOR UPDATE SKIP LOCKED
            found.append(await self.get(membership.user_id, for_update=True))
        return found

    def _store(self, membership: Membership, *, new: bool) -> None:
        self._s.ledger.extend(membership.new_entries)
        membership.new_entries.clear()
        self._s.write("memberships", membership.user_id, membership, new=new)


class InMemoryProcessedEventRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, provider: str, event_id: str, now: datetime) -> bool:
        key = (provider, event_id)
        if key in self._s.store.processed_events or key in self._s.processed_events:
            return False
        self._s.processed_events.add(key)
        return True

    async def record(self, provider: str, event_id: str, now: datetime) -> None:
        if not await self.add(provider, event_id, now):
            raise DuplicateEventError(f"{provider} event {event_id!r} was recorded before")
        self._s.recorded_events.add((provider, event_id))


class InMemoryConsumptionRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, user_id: str, reference: str, count: int, now: datetime) -> bool:
        key = (user_id, reference)
        if key in self._s.store.consumptions or key in self._s.consumptions:
            return False
        self._s.consumptions[key] = count
        return True


class InMemoryRefundRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, refund: Refund) -> None:
        if any(r.id == refund.id or r.refund_order_id == refund.refund_order_id for r in self._s.rows("refunds")):
            raise DuplicateKeyError(refund.id)
        self._s.write("refunds", refund.id, refund, new=True)

    async def get(self, refund_id: str, *, for_update: bool = False) -> Refund | None:
        if for_update:
            await self._s.lock("refunds", refund_id)
        return self._s.read("refunds", refund_id)

    async def update(self, refund: Refund) -> None:
        self._s.write("refunds", refund.id, refund)

    async def get_by_refund_order_id(self, refund_order_id: str, *, for_update: bool = False) -> Refund | None:
        found = next((r for r in self._s.rows("refunds") if r.refund_order_id == refund_order_id), None)
        return await self.get(found.id, for_update=True) if found is not None and for_update else found

    async def claim_follow_ups(self, now: datetime, limit: int) -> list[Refund]:
        due = [r for r in self._s.rows("refunds")
               if r.status is RefundStatus.PENDING and r.next_attempt_at is not None and r.next_attempt_at <= now]
        return await self._s.claim("refunds", sorted(due, key=lambda r: (r.next_attempt_at, r.id)), limit)

    async def list_for_transaction(self, transaction_id: str) -> list[Refund]:
        return sorted((r for r in self._s.rows("refunds") if r.transaction_id == transaction_id),
                      key=lambda r: (r.created_at, r.id))


class InMemoryPayerLinkRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def link(self, payer_hash: str, user_id: str, paid_at: datetime) -> None:
        self._s.writes[("risk_payers", (payer_hash, user_id))] = paid_at


class InMemorySavedMethodRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, method: SavedMethod) -> SavedMethod:
        stored = next((m for m in self._s.rows("saved_methods")
                       if (m.provider, m.token) == (method.provider, method.token)), None)
        if stored is not None:
            return stored
        if any(m.id == method.id for m in self._s.rows("saved_methods")):
            raise DuplicateKeyError(method.id)
        if method.is_default and await self.has_default(method.user_id):
            raise DuplicateKeyError(f"{method.user_id} has a default method")  # the unique partial index
        self._s.write("saved_methods", method.id, method, new=True)
        return method

    async def get(self, method_id: str, *, user_id: str | None = None, for_update: bool = False) -> SavedMethod | None:
        found = self._s.read("saved_methods", method_id)
        if found is None or (user_id is not None and found.user_id != user_id):
            return None
        if for_update:
            await self._s.lock("saved_methods", method_id)
            found = self._s.read("saved_methods", method_id)
        return found

    async def list_for_user(self, user_id: str) -> list[SavedMethod]:
        found = [m for m in self._s.rows("saved_methods") if m.user_id == user_id and not m.deleted]
        return sorted(found, key=lambda m: (m.created_at, m.id), reverse=True)

    async def has_default(self, user_id: str) -> bool:
        return any(m.is_default for m in await self.list_for_user(user_id))

    async def set_default(self, user_id: str, method_id: str, now: datetime) -> None:
        for method in await self.list_for_user(user_id):
            if method.is_default != (method.id == method_id):
                method.is_default = method.id == method_id
                method.updated_at = now
                self._s.write("saved_methods", method.id, method)

    async def update(self, method: SavedMethod) -> None:
        self._s.write("saved_methods", method.id, method)

    async def awaiting_method(self, completed_before: datetime, limit: int) -> list[tuple[str, str]]:
        found = sorted(((s.completed_at, s.id, s.transaction_id) for t in self._s.rows("transactions")
                        for s in t.sessions if s.awaits_saved_method and s.completed_at <= completed_before),
                       reverse=True)
        return [(transaction_id, session_id) for _, session_id, transaction_id in found[:limit]]


class InMemoryProviderCustomerRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def get(self, user_id: str, provider: str) -> str | None:
        return self._s.read("provider_customers", (user_id, provider))

    async def add(self, user_id: str, provider: str, customer_reference: str, now: datetime) -> str:
        stored = await self.get(user_id, provider)
        if stored is not None:
            return stored
        self._s.writes[("provider_customers", (user_id, provider))] = customer_reference
        return customer_reference


class InMemoryAuditLogRepository:
    def __init__(self, staging: _Staging) -> None:
        self._s = staging

    async def add(self, entry: AuditEntry) -> None:
        if any(e.id == entry.id for e in (*self._s.store.audit_log, *self._s.audit_log)):
            raise DuplicateKeyError(entry.id)
        self._s.audit_log.append(entry)



class InMemoryUnitOfWork:
    """A unit of work over an `InMemoryStore`; see `ports.unit_of_work`."""

    def __init__(self, store: InMemoryStore, dispatcher: EventDispatcher | None = None,
                 recorder: EventRecorder | None = None) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._recorder = recorder  # events to the main backend, written with the change (`ports.outbox`)
        self._staging: _Staging | None = None

    async def __aenter__(self) -> InMemoryUnitOfWork:
        if self._staging is not None:
            raise RuntimeError("a unit of work is used for one block at a time")
        self._staging = staging = _Staging(self._store)
        self.transactions = InMemoryTransactionRepository(staging)
        self.memberships = InMemoryMembershipRepository(staging)
        self.processed_events = InMemoryProcessedEventRepository(staging)
        self.consumptions = InMemoryConsumptionRepository(staging)
        self.refunds = InMemoryRefundRepository(staging)
        self.audit_log = InMemoryAuditLogRepository(staging)
        self.payer_links = InMemoryPayerLinkRepository(staging)
        self.saved_methods = InMemorySavedMethodRepository(staging)
        self.provider_customers = InMemoryProviderCustomerRepository(staging)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.rollback()

    async def commit(self) -> None:
        staging = self._require_block()
        if not staging.recorded_events.isdisjoint(self._store.processed_events):  # another committed first
            raise DuplicateEventError("a provider event was recorded by another unit of work meanwhile")
        events = [event for aggregate in staging.touched for event in _events_of(aggregate)]
        reported = [pending(new) for new in self._recorder(staging.touched, events)] if self._recorder else []
        for (table, key), value in staging.writes.items():
            getattr(self._store, table)[key] = value
        self._store.ledger.extend(staging.ledger)
        self._store.processed_events |= staging.processed_events
        self._store.consumptions.update(staging.consumptions)
        self._store.audit_log.extend(staging.audit_log)
        self._store.outbox.extend(reported)
        self._finish()
        if self._dispatcher is not None:
            await self._dispatcher.dispatch(events)

    async def rollback(self) -> None:
        if self._staging is not None:
            self._finish()

    def _finish(self) -> None:
        assert self._staging is not None
        self._staging.release_locks()
        self._staging = None

    def _require_block(self) -> _Staging:
        if self._staging is None:
            raise RuntimeError("commit() outside `async with uow:`")
        return self._staging



def in_memory_uow_factory(store: InMemoryStore, dispatcher: EventDispatcher | None = None,
                          recorder: EventRecorder | None = None) -> Callable[[], InMemoryUnitOfWork]:
    """A `UnitOfWorkFactory` over one shared store."""

    def factory() -> InMemoryUnitOfWork:
        return InMemoryUnitOfWork(store, dispatcher, recorder)

    return factory


class InMemoryQueries:
    """`ports.queries.PaymentQueries` over the committed state of an `InMemoryStore` (copies)."""

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store

    async def session(self, session_id: str, *, user_id: str | None = None) -> PaymentSession | None:
        found = next((s for t in self._store.transactions.values() for s in t.sessions if s.id == session_id), None)
        if found is None or (user_id is not None and found.user_id != user_id):
            return None
        return copy.deepcopy(found)

    async def transaction(self, transaction_id: str, *, user_id: str | None = None) -> Transaction | None:
        found = self._store.transactions.get(transaction_id)
        if found is None or (user_id is not None and found.user_id != user_id):
            return None
        return copy.deepcopy(found)

    async def history(self, user_id: str, query: TransactionQuery) -> tuple[list[Transaction], int]:
        matching = self._history(user_id, query)
        return matching[query.offset:query.offset + query.limit], len(matching)

    async def history_after(self, user_id: str, query: TransactionQuery,
                            starting_after: str) -> tuple[list[Transaction], bool] | None:
        cursor = self._store.transactions.get(starting_after)
        if cursor is None or cursor.user_id != user_id:
            return None
        after = [t for t in self._history(user_id, query) if (t.created_at, t.id) < (cursor.created_at, cursor.id)]
        return after[:query.limit], len(after) > query.limit

    def _history(self, user_id: str, query: TransactionQuery) -> list[Transaction]:
        """Every match, newest first, as read at `query.as_of`, without sessions (copies)."""
        read = [t if query.as_of is None else read_at(t, query.as_of)
                for t in self._store.transactions.values() if t.user_id == user_id]
        matching = [attrs.evolve(copy.deepcopy(t), sessions=[]) for t in read if _matches(t, query)]
        matching.sort(key=lambda t: (t.created_at, t.id), reverse=True)
        return matching

    async def membership(self, user_id: str) -> Membership | None:
        return copy.deepcopy(self._store.memberships.get(user_id))

    async def ledger(self, user_id: str) -> list[LedgerEntry]:
        return [entry for entry in self._store.ledger if entry.user_id == user_id]

    async def ledger_page(self, user_id: str, page: int, limit: int) -> tuple[list[LedgerLine], int]:
        lines = self._ledger_lines(user_id)
        return lines[(page - 1) * limit:page * limit], len(lines)

    async def ledger_after(self, user_id: str, starting_after: str,
                           limit: int) -> tuple[list[LedgerLine], bool] | None:
        lines = self._ledger_lines(user_id)
        position = next((i for i, line in enumerate(lines) if line.id == starting_after), None)
        if position is None or ledger_sequence(starting_after) is None:
            return None
        after = lines[position + 1:]
        return after[:limit], len(after) > limit

    def _ledger_lines(self, user_id: str) -> list[LedgerLine]:
        """The user's lines, newest first; an entry's id is its place in the store's ledger."""
        lines, balance = [], 0
        for sequence, entry in enumerate(self._store.ledger, start=1):
            if entry.user_id == user_id:
                balance += entry.delta
                lines.append(LedgerLine(ledger_id(sequence), entry, balance))
        return lines[::-1]

    async def refunds_pending(self, created_before: datetime, limit: int) -> list[Refund]:
        pending = [r for r in self._store.refunds.values()
                   if r.status is RefundStatus.PENDING and r.created_at <= created_before]
        return copy.deepcopy(sorted(pending, key=lambda r: (r.created_at, r.id))[:limit])

    async def refunds_of(self, transaction_id: str) -> list[Refund]:
        return copy.deepcopy(sorted((r for r in self._store.refunds.values() if r.transaction_id == transaction_id),
                                    key=lambda r: (r.created_at, r.id)))


def _matches(t: Transaction, q: TransactionQuery) -> bool:
    return ((not q.types or t.type in q.types)
            and (not q.statuses or t.status in q.statuses)
            and (q.date_from is None or t.created_at >= q.date_from)
            and (q.date_to is None or t.created_at <= q.date_to))


class InMemoryIdempotencyStore:
    """`ports.idempotency.IdempotencyStore` in a dict."""

    def __init__(self) -> None:
        self.records: dict[IdempotencyScope, IdempotencyRecord] = {}

    async def begin(self, scope: IdempotencyScope, fingerprint: str, now: datetime,
                    lease: timedelta) -> StoredResponse | IdempotencyClaim:
        record = self.records.get(scope)
        if record is not None:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError()
            if record.response is not None:
                return record.response
            if record.locked_until is not None and record.locked_until > now:
                raise IdempotencyRequestInProgressError()
        self.records[scope] = IdempotencyRecord(scope, fingerprint, None, now + lease,
                                                record.created_at if record else now)
        return IdempotencyClaim(scope, now + lease)

    def _held(self, claim: IdempotencyClaim) -> IdempotencyRecord | None:
        record = self.records.get(claim.scope)
        held = record is not None and record.response is None and record.locked_until == claim.token
        return record if held else None

    async def complete(self, claim: IdempotencyClaim, response: StoredResponse, now: datetime) -> bool:
        record = self._held(claim)
        if record is None:
            return False
        self.records[claim.scope] = attrs.evolve(record, response=response, locked_until=None)
        return True

    async def release(self, claim: IdempotencyClaim) -> None:
        if self._held(claim) is not None:
            del self.records[claim.scope]

    async def purge(self, older_than: datetime) -> int:
        stale = [scope for scope, record in self.records.items() if record.created_at < older_than]
        for scope in stale:
            del self.records[scope]
        return len(stale)
