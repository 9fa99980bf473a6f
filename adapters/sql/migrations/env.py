"""Alembic environment of the SQL adapter: runs the revisions in `versions/` on the connection
that `adapters.sql.migration.migrate` hands over (locked and configured there), or, from the
alembic command line, on `PAYMENTS_DATABASE_URL`."""
from __future__ import annotations

import logging.config
import os

from alembic import context

from adapters.sql.database import DEFAULT_DATABASE_URL
from adapters.sql.migration import sync_engine, sync_url
from adapters.sql.tables import UtcDateTime, metadata

config = context.config


def _database_url() -> str:
    return os.environ.get("PAYMENTS_DATABASE_URL", DEFAULT_DATABASE_URL)


def _render_item(type_: str, obj, autogen_context):
    """Autogenerate writes plain SQLAlchemy types, so revisions never import the adapter."""
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite can't ALTER most things
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if config.config_file_name is not None:
        logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)
    engine = sync_engine(_database_url())
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=sync_url(_database_url()), target_metadata=metadata, literal_binds=True,
                      dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
