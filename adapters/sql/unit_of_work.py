"""The SQL unit of work (`ports.unit_of_work.UnitOfWork`): one connection and one database
transaction per `async with` block (`adapters.sql.connections`), rolled back unless `commit()`
was called.

At commit, the `in_transaction` hooks run first, inside the transaction, with the context
(PostgreSQL's NOTIFY of the session feed, `adapters.sql.session_feed`; an outbox would go there
too): what they queue commits with the change or not at all. After the commit, the events the
stored aggregates recorded go to the post-commit dispatcher (`ports.events`).
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence

from databases import Database

from adapters.sql.connections import DatabaseTransaction
from adapters.sql.context import SqlContext
from adapters.sql.executor import executor_for
from adapters.sql.repositories.consumptions import SqlConsumptionRepository
from adapters.sql.repositories.memberships import SqlMembershipRepository
from adapters.sql.repositories.processed_events import SqlProcessedEventRepository
from adapters.sql.repositories.audit_log import SqlAuditLogRepository
from adapters.sql.repositories.payer_links import SqlPayerLinkRepository
from adapters.sql.repositories.refunds import SqlRefundRepository
from adapters.sql.repositories.saved_methods import SqlProviderCustomerRepository, SqlSavedMethodRepository
from adapters.sql.repositories.transactions import SqlTransactionRepository
from ports.events import EventDispatcher

log = logging.getLogger("payments.sql")
InTransactionHook = Callable[[SqlContext], object]  # may be a coroutine function


class SqlUnitOfWork:
    """`ports.unit_of_work.UnitOfWork` over a `databases.Database` (see the module docstring)."""

    def __init__(self, database: Database, dispatcher: EventDispatcher | None = None,
                 in_transaction: Sequence[InTransactionHook] = ()) -> None:
        self._database = database
        self._dispatcher = dispatcher
        self._in_transaction = in_transaction
        self._transaction: DatabaseTransaction | None = None
        self._context: SqlContext | None = None

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._transaction is not None:
            raise RuntimeError("a unit of work is used for one block at a time")
        transaction = DatabaseTransaction(self._database)
        await transaction.begin()
        self._transaction = transaction
        self._context = context = SqlContext(executor_for(transaction.connection, transaction.dialect, batched=True))
        self.transactions = SqlTransactionRepository(context)
        self.memberships = SqlMembershipRepository(context)
        self.processed_events = SqlProcessedEventRepository(context)
        self.consumptions = SqlConsumptionRepository(context)
        self.refunds = SqlRefundRepository(context)
        self.audit_log = SqlAuditLogRepository(context)
        self.payer_links = SqlPayerLinkRepository(context)
        self.saved_methods = SqlSavedMethodRepository(context)
        self.provider_customers = SqlProviderCustomerRepository(context)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if exc_type is None:
            await self.rollback()
            return
        try:
            await self.rollback()
        except Exception:  # the block's own exception is the one to see (the connection may be gone)
            log.warning("rollback after %s failed", exc_type.__name__, exc_info=True)

    async def commit(self) -> None:
        if self._transaction is None or self._context is None:
            raise RuntimeError("commit() outside `async with uow:`")
        transaction, context = self._transaction, self._context
        self._transaction = self._context = None
        try:
            for hook in self._in_transaction:
                outcome = hook(context)
                if inspect.isawaitable(outcome):  # a hook that writes (the outbox, `adapters.sql.outbox`)
                    await outcome
            await context.flush()
        except BaseException:
            await transaction.rollback()
            raise
        await transaction.commit()
        events = context.take_events()
        if self._dispatcher is not None:
            await self._dispatcher.dispatch(events)

    async def rollback(self) -> None:
        transaction, self._transaction, self._context = self._transaction, None, None
        if transaction is not None:
            await transaction.rollback()


def sql_uow_factory(database: Database, dispatcher: EventDispatcher | None = None,
                    in_transaction: Sequence[InTransactionHook] = ()) -> Callable[[], SqlUnitOfWork]:
    """A `UnitOfWorkFactory`: a new `SqlUnitOfWork` over `database` per call."""

    def factory() -> SqlUnitOfWork:
        return SqlUnitOfWork(database, dispatcher, in_transaction)

    factory.database = database  # type: ignore[attr-defined]
    return factory
