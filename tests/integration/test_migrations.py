"""Migrations (`adapters.sql.migration.migrate`): a new SQLite file and a new PostgreSQL database
both migrate from nothing to the schema of `adapters.sql.tables`; migrating again changes
nothing; several processes migrating one database at once do not race; and the way down works."""
from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from adapters.sql.migration import alembic_config, current_revision, head_revision, migrate, sync_engine
from adapters.sql.tables import metadata

ROOT = Path(__file__).resolve().parents[2]
TABLES = {table.name for table in metadata.sorted_tables}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database that was never migrated."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'new.db'}"
    factory: Callable[[str], str] = request.getfixturevalue("postgres_database_factory")
    return factory("migrations")


def schema(url: str) -> dict:
    """The tables, columns, indexes and constraints the database has."""
    engine = sync_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {
            table: {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                "indexes": sorted((i["name"], tuple(map(str, i["column_names"])))
                                  for i in inspector.get_indexes(table)),
                "unique": sorted(u["name"] for u in inspector.get_unique_constraints(table)),
                "checks": sorted(c["name"] for c in inspector.get_check_constraints(table)),
                "foreign_keys": sorted(f["name"] for f in inspector.get_foreign_keys(table)),
            }
            for table in sorted(inspector.get_table_names())
        }
    finally:
        engine.dispose()


def differences_from_the_tables(url: str) -> list:
    """What autogenerate would change to make the database match `adapters.sql.tables`."""
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, metadata)
    finally:
        engine.dispose()


def test_a_new_database_migrates_from_nothing_to_the_schema_of_the_tables(new_database_url: str) -> None:
    assert current_revision(new_database_url) is None
    migrate(new_database_url)
    assert current_revision(new_database_url) == head_revision()
    assert set(schema(new_database_url)) == TABLES | {"alembic_version"}
    assert differences_from_the_tables(new_database_url) == []


def test_migrating_an_up_to_date_database_again_changes_nothing(new_database_url: str) -> None:
    migrate(new_database_url)
    before = schema(new_database_url)
    migrate(new_database_url)
    migrate(new_database_url)
    assert schema(new_database_url) == before
    assert current_revision(new_database_url) == head_revision()


def test_the_way_down_and_up_again_works(new_database_url: str) -> None:
    migrate(new_database_url)
    engine = sync_engine(new_database_url)
    try:
        with engine.connect() as connection:
            command.downgrade(alembic_config(connection), "base")
            connection.commit()
    finally:
        engine.dispose()
    assert set(schema(new_database_url)) == {"alembic_version"}
    assert current_revision(new_database_url) is None
    migrate(new_database_url)
    assert differences_from_the_tables(new_database_url) == []


def test_sqlite_databases_are_put_in_wal_mode(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'wal.db'}"
    migrate(url)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


# Each process imports everything first, then waits on stdin, so that all start migrating at once.
_MIGRATE_ON_SIGNAL = ("import sys; from adapters.sql.migration import migrate; "
                      "sys.stdin.readline(); migrate(sys.argv[1])")


def test_several_processes_migrating_a_new_database_at_once_do_not_race(new_database_url: str) -> None:
    processes = [
        subprocess.Popen([sys.executable, "-c", _MIGRATE_ON_SIGNAL, new_database_url], cwd=ROOT,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    outcomes = [process.communicate(timeout=120) for process in processes]
    failures = [err for process, (_, err) in zip(processes, outcomes) if process.returncode != 0]
    assert failures == []
    assert current_revision(new_database_url) == head_revision()
    assert differences_from_the_tables(new_database_url) == []
