"""The SQL adapter beyond the shared contract: SQLite under concurrent writers (one process, and
two `Database` objects on one file as two processes would be), `force_rollback` databases, URL
handling and the timestamp type."""
from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, timezone

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from adapters.clock import FixedClock
from adapters.sql.database import create_database
from adapters.sql.queries import SqlQueries
from adapters.sql.tables import UtcDateTime
from adapters.sql.unit_of_work import sql_uow_factory
from domain.catalog import DEFAULT_CATALOG
from domain.ledger import Balance
from domain.membership import Membership
from ports.use_cases.plans.consume_receives import ConsumeReceives, ConsumeReceivesCommand
from ports.use_cases.settings import UseCaseSettings

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=timezone.utc)


async def given_membership(uow_factory, user: str, purchased: int) -> None:
    membership = Membership.start(user, DEFAULT_CATALOG.free_plan, NOW)
    membership.credit_purchase(purchased, "txn_seed", NOW)
    async with uow_factory() as uow:
        assert await uow.memberships.add(membership)
        await uow.commit()


def consumer(uow_factory) -> ConsumeReceives:
    return ConsumeReceives(uow=uow_factory, clock=FixedClock(NOW), settings=UseCaseSettings())


async def test_concurrent_writers_in_one_process_queue_for_sqlite_and_never_overdraw(fresh_sqlite_url: str) -> None:
    database = create_database(fresh_sqlite_url)
    await database.connect()
    try:
        uow = sql_uow_factory(database)
        await given_membership(uow, "alice", purchased=30)  # balance 33
        consume = consumer(uow)
        results = await asyncio.gather(
            *(consume(ConsumeReceivesCommand("alice", 1, f"match-{n}")) for n in range(50)), return_exceptions=True)
        queries = SqlQueries(database)
        membership, ledger = await queries.membership("alice"), await queries.ledger("alice")
    finally:
        await database.disconnect()
    assert Counter(type(r).__name__ for r in results) == {"MembershipView": 33, "InsufficientReceivesError": 17}
    assert membership.balance == Balance.of(ledger) == Balance(0, 0)


async def test_two_databases_on_one_sqlite_file_wait_for_each_other(fresh_sqlite_url: str) -> None:
    """Two `Database` objects stand for two processes: they do not share the in-process queue,
    so they meet at SQLite's write lock and its busy timeout."""
    first, second = create_database(fresh_sqlite_url), create_database(fresh_sqlite_url)
    await first.connect()
    await second.connect()
    try:
        await given_membership(sql_uow_factory(first), "alice", purchased=20)  # balance 23
        consumers = [consumer(sql_uow_factory(first)), consumer(sql_uow_factory(second))]
        results = await asyncio.gather(
            *(consumers[n % 2](ConsumeReceivesCommand("alice", 1, f"match-{n}")) for n in range(30)),
            return_exceptions=True)
        membership = await SqlQueries(second).membership("alice")
    finally:
        await first.disconnect()
        await second.disconnect()
    assert Counter(type(r).__name__ for r in results) == {"MembershipView": 23, "InsufficientReceivesError": 7}
    assert membership.balance.total == 0


async def test_units_of_work_on_a_force_rollback_database_leave_nothing_behind(fresh_sqlite_url: str) -> None:
    database = create_database(fresh_sqlite_url, force_rollback=True)
    await database.connect()
    uow = sql_uow_factory(database)
    await given_membership(uow, "alice", purchased=1)
    async with uow() as u:
        assert (await u.memberships.get("alice")).purchased_remaining == 1  # committed to its savepoint
    await database.disconnect()

    database = create_database(fresh_sqlite_url)
    await database.connect()
    try:
        async with sql_uow_factory(database)() as u:
            assert await u.memberships.get("alice") is None
    finally:
        await database.disconnect()


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///x.db?mode=ro", "mysql://h/db"])
def test_unusable_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        create_database(url)


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()], ids=["sqlite", "postgresql"])
def test_timestamps_must_be_aware_and_are_stored_as_utc(dialect) -> None:
    column_type = UtcDateTime()
    with pytest.raises(ValueError, match="naive"):
        column_type.process_bind_param(datetime(2026, 1, 1), dialect)
    stored = column_type.process_bind_param(datetime(2026, 1, 1, 8, tzinfo=timezone.utc).astimezone(), dialect)
    assert stored.replace(tzinfo=None) == datetime(2026, 1, 1, 8)
    assert column_type.process_result_value(datetime(2026, 1, 1, 8), dialect) == datetime(
        2026, 1, 1, 8, tzinfo=timezone.utc)
