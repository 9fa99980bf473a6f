"""The unit of work: one database transaction around a use case's reads and writes.

    async with uow:
        txn = await uow.transactions.get(txn_id, for_update=True)
        ...
        await uow.commit()

Leaving the block without `commit()` (or by an exception) rolls everything back. After a
successful commit, `collect_events()` hands out the domain events the stored aggregates recorded.
Never await a payment provider inside the block: persist the pending state, commit, call the
provider, then record the outcome in a second unit of work.

A `UnitOfWork` object is used for one block at a time; use cases ask their factory for a new one.
`factory(read_only=True)` gives one for a single consistent read that changes nothing: it may skip
the transaction and the locks (each statement sees committed data); `commit()` is refused.
`factory(single_statement=True)` gives one whose statements each commit on their own, for a unit
of work that makes exactly one atomic write (a conditional update); `commit()` then only hands
out the events.
"""
from __future__ import annotations

from typing import Protocol

from domain.events import Event
from ports.repositories import (
    ConsumptionRepository,
    MembershipRepository,
    ProcessedEventRepository,
    RefundRepository,
    SessionRepository,
    TransactionRepository,
)


class UnitOfWork(Protocol):
    transactions: TransactionRepository
    sessions: SessionRepository
    memberships: MembershipRepository
    processed_events: ProcessedEventRepository
    consumptions: ConsumptionRepository
    refunds: RefundRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Roll back unless `commit()` was called."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...

    def collect_events(self) -> list[Event]:
        """The events recorded by aggregates stored in the last committed block, once each."""
        ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False, single_statement: bool = False) -> UnitOfWork: ...
