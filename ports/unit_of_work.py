"""The unit of work: one database transaction around a use case's reads and writes.

    async with uow_factory() as uow:
        transaction = await uow.transactions.get(transaction_id, for_update=True)
        ...
        await uow.commit()

Leaving the block without `commit()` (or by an exception) rolls everything back. After a
successful commit, the domain events the stored aggregates recorded are handed to the
post-commit dispatcher (`ports.events`), once each. Never await a payment provider inside the
block: persist the pending state, commit, call the provider, then record the outcome in a second
unit of work.

A `UnitOfWork` object is used for one block at a time; use cases ask their factory for a new one.
Reads that change nothing do not need one: they go through `ports.queries`.
"""
from __future__ import annotations

from typing import Protocol

from ports.repositories import (
    AuditLogRepository,
    ConsumptionRepository,
    MembershipRepository,
    PayerLinkRepository,
    ProcessedEventRepository,
    ProviderCustomerRepository,
    RefundRepository,
    SavedMethodRepository,
    TransactionRepository,
)


class UnitOfWork(Protocol):
    transactions: TransactionRepository
    memberships: MembershipRepository
    processed_events: ProcessedEventRepository
    consumptions: ConsumptionRepository
    refunds: RefundRepository
    audit_log: AuditLogRepository
    payer_links: PayerLinkRepository  # linked payers (docs/risk.md)
    saved_methods: SavedMethodRepository  # docs/saved-methods.md
    provider_customers: ProviderCustomerRepository

    async def __aenter__(self) -> UnitOfWork: ...

    async def __aexit__(self, *exc_info: object) -> None:
        """Roll back unless `commit()` was called."""
        ...

    async def commit(self) -> None:
        """Commit, then hand the stored aggregates' events to the dispatcher."""
        ...

    async def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self) -> UnitOfWork: ...
