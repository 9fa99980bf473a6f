"""Revision 0009 on a database holding refunds: the service's own refunds stored before it keep
working, as kind `automatic` (a pending one `processing`, still due for its follow-up through the
new partial index; a failed one with a failure reason), and read back through the SQL adapter;
going back down restores the old statuses. On SQLite and PostgreSQL."""
from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from adapters.sql.database import create_database
from adapters.sql.migration import alembic_config, head_revision, sync_engine
from adapters.sql.refund_queries import SqlRefundQueries
from adapters.sql.unit_of_work import sql_uow_factory
from domain.refund import RefundKind, RefundStatus

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'refunds.db'}"
    factory: Callable[[str], str] = request.getfixturevalue("postgres_database_factory")
    return factory("refund_migration")


def to_revision(url: str, revision: str, *, down: bool = False) -> None:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            (command.downgrade if down else command.upgrade)(alembic_config(connection), revision)
            connection.commit()
    finally:
        engine.dispose()


def filled(table: sa.Table, **values) -> dict:
    """A row of `table` as the schema of the time has it: `values`, and a plain value for every
    other column that must have one."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.server_default is not None:
            continue
        kind = column.type
        if isinstance(kind, sa.DateTime):
            row[column.name] = T0
        elif isinstance(kind, (sa.Integer, sa.BigInteger, sa.SmallInteger)):
            row[column.name] = 0
        elif isinstance(kind, sa.Boolean):
            row[column.name] = False
        else:
            row[column.name] = "CNY" if column.name == "currency" else f"x{column.name[:8]}"
    return row


def store_old_refunds(url: str) -> None:
    """A paid purchase and its session, refunded twice before 0009: one refund pending, one failed."""
    engine = sync_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine, only=["membership_transactions", "payment_sessions", "payment_refunds"])
        transactions, sessions, refunds = (meta.tables[name] for name in
                                           ("membership_transactions", "payment_sessions", "payment_refunds"))
        with engine.begin() as connection:
            connection.execute(transactions.insert().values(filled(
                transactions, id="txn_old", order_id="P20261101OLD001", user_id="alice", type="purchase_receives",
                status="succeeded", total_minor=1700, refunded_minor=0, subtotal_minor=2000, discount_minor=300,
                receives=10, version=1)))
            connection.execute(sessions.insert().values(filled(
                sessions, id="ps_old", transaction_id="txn_old", user_id="alice", order_id="S20261101OLD001",
                status="refunded", amount_minor=1700, version=1)))
            for refund_id, status, attempt in (("rf_pending", "pending", T0), ("rf_failed", "failed", None)):
                connection.execute(refunds.insert().values(filled(
                    refunds, id=refund_id, refund_order_id=f"R20261101{refund_id[3:].upper()}",
                    transaction_id="txn_old", session_id="ps_old", user_id="alice", provider="mock",
                    payment_order_id="S20261101OLD001", amount_minor=1700, reason="duplicate_payment",
                    status=status, next_attempt_at=attempt, version=0)))
    finally:
        engine.dispose()


def statuses(url: str) -> dict[str, str]:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return dict(connection.execute(sa.text("SELECT id, status FROM payment_refunds")).all())
    finally:
        engine.dispose()


async def test_refunds_stored_before_0009_become_automatic_and_keep_working(database_url: str) -> None:
    to_revision(database_url, "0008")
    store_old_refunds(database_url)

    to_revision(database_url, "head")
    assert head_revision() >= "0009"

    database = create_database(database_url)
    await database.connect()
    try:
        reads = SqlRefundQueries(database)
        pending, failed = await reads.refund("rf_pending"), await reads.refund("rf_failed")
        assert (pending.kind, pending.status, pending.submitted_at) == (RefundKind.AUTOMATIC, RefundStatus.PROCESSING, T0)
        assert (failed.kind, failed.status, failed.failure_reason) == (RefundKind.AUTOMATIC, RefundStatus.FAILED,
                                                                       "refund_failed")
        assert (pending.reason, pending.receives, pending.ends_plan, pending.requested_by) == (
            "duplicate_payment", None, False, None)
        async with sql_uow_factory(database)() as uow:  # the follow-up job still finds the pending one
            assert [r.id for r in await uow.refunds.claim_follow_ups(T0, 10)] == ["rf_pending"]
    finally:
        await database.disconnect()

    to_revision(database_url, "0008", down=True)
    assert statuses(database_url) == {"rf_pending": "pending", "rf_failed": "failed"}
