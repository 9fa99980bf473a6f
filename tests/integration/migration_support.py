"""What the migration tests with a service's data share (tests/integration/test_*_migration.py):
empty databases of each kind, moving one to a revision, reading its rows and structure, copying
rows from a database at head into one at an older revision, and what the API tells users.
Importable by name, like tests/live.py."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from adapters.sql.migration import alembic_config, sync_engine
from live import eventually

API = "/api/v1/payments"
# The mock cannot close an order, so a replaced session stays payable: paying it too is a
# duplicate payment, refunded (a `payment_refunds` row pointing at that session).
SERVICE_ENV = {"PAYMENTS_MOCK_FAULTS": "close_payment=error:1"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Makes empty databases of the parametrized kind: `new_database(label) -> url`."""
    if request.param == "sqlite":
        return lambda label: f"sqlite:///{tmp_path / label}.db"
    return request.getfixturevalue("postgres_database_factory")


def at_revision(url: str, revision: str, *, down: bool = False) -> None:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            (command.downgrade if down else command.upgrade)(alembic_config(connection), revision)
            connection.commit()
    finally:
        engine.dispose()


def rows(url: str, *, without: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Every row of every table but alembic's, as dicts without the columns `without`, sorted."""
    engine = sync_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as connection:
            return {name: sorted(({k: v for k, v in row._mapping.items() if k not in without}
                                  for row in connection.execute(sa.select(table))), key=repr)
                    for name, table in meta.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


def like(found: dict[str, list[dict]], shape: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The tables of `found` that `shape` has, each row with only the columns `shape`'s rows have:
    what later revisions add (a column, a table) is left out of the comparison (the structure is
    compared whole, against a database migrated from nothing)."""
    projected = {}
    for name, shaped in shape.items():
        columns = set(shaped[0]) if shaped else set()
        projected[name] = sorted(({k: v for k, v in row.items() if k in columns} for row in found.get(name, [])),
                                 key=repr)
    return projected


def structure(url: str) -> dict:
    """The tables, columns, indexes and named constraints of the database."""
    engine = sync_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(map(str, i["column_names"]))) for i in inspector.get_indexes(table)),
            inspector.get_pk_constraint(table)["name"],
            sorted(u["name"] for u in inspector.get_unique_constraints(table)),
            sorted(c["name"] for c in inspector.get_check_constraints(table)),
            sorted((f["name"], f["referred_table"]) for f in inspector.get_foreign_keys(table)),
        ) for table in sorted(inspector.get_table_names())}
    finally:
        engine.dispose()


def copy_rows(source: str, target: str, renamed: Mapping[str, str] = {}) -> None:  # noqa: B006 (read only)
    """Every row of `source` into the same table of `target` (`renamed`: source name -> target
    name), only the tables and columns `target` has (not those of later revisions), parents first;
    PostgreSQL's identity sequence is moved past the copied ids."""
    source_engine, target_engine = sync_engine(source), sync_engine(target)
    try:
        source_meta, target_meta = sa.MetaData(), sa.MetaData()
        source_meta.reflect(source_engine)
        target_meta.reflect(target_engine)
        with source_engine.connect() as reading, target_engine.connect() as writing:
            for table in source_meta.sorted_tables:
                into = target_meta.tables.get(renamed.get(table.name, table.name))
                if table.name == "alembic_version" or into is None:
                    continue
                found = [{k: v for k, v in row._mapping.items() if k in into.c}
                         for row in reading.execute(sa.select(table))]
                if found:
                    writing.execute(sa.insert(into), found)
            if writing.dialect.name == "postgresql":
                writing.exec_driver_sql("SELECT setval(pg_get_serial_sequence('receives_ledger', 'id'), "
                                        "(SELECT max(id) FROM receives_ledger))")
            writing.commit()
    finally:
        source_engine.dispose()
        target_engine.dispose()


async def duplicate_refund_settled(service, user: str, transaction_id: str) -> None:
    """Waits until every refund of the transaction has succeeded: a session shows `refunded` as soon
    as its duplicate payment is found, while the refund itself is sent by a job a moment later, so
    reading the answers before that would catch a refund still `processing`."""
    await eventually(lambda: service.get(f"{API}/transactions/{transaction_id}", user=user),
                     lambda t: t["refunds"] and all(r["status"] == "succeeded" for r in t["refunds"]),
                     what="the duplicate payment's refund to succeed")


async def answers(service, users: list[str]) -> dict:
    """What the API tells each user: the membership, the history and every transaction in full."""
    seen = {}
    for user in users:
        history = await service.get(f"{API}/transactions", user=user)
        details = {t["id"]: await service.get(f"{API}/transactions/{t['id']}", user=user) for t in history["items"]}
        seen[user] = {"membership": await service.get(f"{API}/membership", user=user), "history": history,
                      "details": details}
    return seen
