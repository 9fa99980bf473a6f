"""Shared test configuration: makes `tests/` importable for its helpers (world, builders), and
provides PostgreSQL test databases.

PostgreSQL: the server is `PAYMENTS_TEST_POSTGRES_URL` (an admin URL such as
`postgresql://postgres@127.0.0.1:5432/postgres`, the default). Each test session creates its
own uniquely named databases there and drops them at the end. Tests that need the server are
marked `@pytest.mark.postgres`; when it cannot be reached they are skipped with the reason,
except under `CI=true`, where they fail: CI never skips PostgreSQL.
"""
from __future__ import annotations

import functools
import os
import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

sys.path.insert(0, str(Path(__file__).parent))

POSTGRES_URL_ENV = "PAYMENTS_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def postgres_server_url() -> str:
    return os.environ.get(POSTGRES_URL_ENV) or DEFAULT_POSTGRES_URL


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() == "true"


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def with_database(url: str, name: str) -> str:
    """`url` naming database `name` instead."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin_connection():
    import psycopg

    return psycopg.connect(postgres_server_url().replace("postgresql+asyncpg://", "postgresql://"),
                           autocommit=True, connect_timeout=5)


@functools.cache
def postgres_unreachable() -> str | None:
    """Why the test server cannot be used, or None when it can (asked once per session)."""
    try:
        with _admin_connection() as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means "unreachable", with its reason
        return f"{type(error).__name__}: {str(error).strip()}"
    return None


def require_postgres() -> None:
    """Skip (outside CI) or fail (CI=true) the current test when PostgreSQL is unreachable."""
    problem = postgres_unreachable()
    if problem is None:
        return
    message = f"PostgreSQL at {_redacted(postgres_server_url())} is unreachable ({problem})"
    if in_ci():
        pytest.fail(f"{message}. CI=true: PostgreSQL tests must run, never skip.", pytrace=False)
    pytest.skip(f"{message}; set {POSTGRES_URL_ENV} or start the server to run the postgres tests")


def pytest_report_header(config: pytest.Config) -> str:
    return f"postgres tests: {_redacted(postgres_server_url())} (${POSTGRES_URL_ENV}; CI={in_ci()})"


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres") is not None:
        require_postgres()


@pytest.fixture(scope="session")
def postgres_database_factory() -> Iterator[Callable[[str], str]]:
    """Creates fresh, empty databases on the test server (`factory(label) -> url`); every one of
    them is dropped when the test session ends."""
    require_postgres()
    from psycopg import sql

    created: list[str] = []

    def create(label: str = "db") -> str:
        name = f"payments_test_{os.getpid()}_{secrets.token_hex(3)}_{label}"[:63].lower()
        with _admin_connection() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return with_database(postgres_server_url(), name)

    yield create
    with _admin_connection() as connection:
        for name in created:
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def postgres_url(postgres_database_factory: Callable[[str], str]) -> str:
    """This test session's own PostgreSQL database (empty, not migrated)."""
    return postgres_database_factory("session")


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    """This test session's PostgreSQL database, migrated to the newest schema."""
    from adapters.sql.migration import migrate

    migrate(postgres_url)
    return postgres_url


def truncate_all(url: str) -> None:
    """Empty every table of the adapter's schema in the PostgreSQL database at `url`."""
    import psycopg

    from adapters.sql.tables import metadata

    names = ", ".join(table.name for table in metadata.sorted_tables)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def clean_postgres_url(migrated_postgres_url: str) -> str:
    """The session's migrated PostgreSQL database, emptied for this test."""
    truncate_all(migrated_postgres_url)
    return migrated_postgres_url


@pytest.fixture(scope="session")
def migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session, for tests to copy (cheaper than migrating)."""
    from adapters.sql.migration import migrate

    path = tmp_path_factory.mktemp("sqlite-template") / "payments.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def fresh_sqlite_url(tmp_path: Path, migrated_sqlite_template: Path) -> str:
    """A migrated SQLite database file of this test's own."""
    import shutil

    path = tmp_path / "payments.db"
    shutil.copyfile(migrated_sqlite_template, path)
    return f"sqlite:///{path}"
