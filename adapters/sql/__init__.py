"""The SQL adapter: every repository port, the unit of work and the idempotency store on
`databases` + SQLAlchemy Core, the same code on PostgreSQL (asyncpg) and SQLite (aiosqlite),
with its schema (`tables`) and alembic migrations (`migration.migrate`).

    database = create_database(os.environ.get("PAYMENTS_DATABASE_URL", DEFAULT_DATABASE_URL))
    migrate(str(database.url))          # blocking; at start-up, before connecting
    await database.connect()
    uow_factory = sql_uow_factory(database, dispatcher, in_transaction_hooks(url))
    queries = SqlQueries(database)
    idempotency = SqlIdempotencyStore(database)
"""
from adapters.sql.context import StaleAggregateError
from adapters.sql.database import DEFAULT_DATABASE_URL, create_database
from adapters.sql.idempotency import SqlIdempotencyStore
from adapters.sql.instructions import SqlInstructions
from adapters.sql.queries import SqlQueries
from adapters.sql.repositories.consumptions import SqlConsumptionRepository
from adapters.sql.repositories.memberships import SqlMembershipRepository
from adapters.sql.repositories.processed_events import SqlProcessedEventRepository
from adapters.sql.repositories.refunds import SqlRefundRepository
from adapters.sql.repositories.transactions import SqlTransactionRepository
from adapters.sql.tables import metadata
from adapters.sql.unit_of_work import SqlUnitOfWork, sql_uow_factory


def migrate(database_url: str) -> None:
    """`adapters.sql.migration.migrate`, imported on use: alembic and psycopg are only needed
    to migrate, and a serving process should not carry them."""
    from adapters.sql.migration import migrate as run

    run(database_url)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SqlConsumptionRepository",
    "SqlIdempotencyStore",
    "SqlInstructions",
    "SqlMembershipRepository",
    "SqlProcessedEventRepository",
    "SqlQueries",
    "SqlRefundRepository",
    "SqlTransactionRepository",
    "SqlUnitOfWork",
    "StaleAggregateError",
    "create_database",
    "metadata",
    "migrate",
    "sql_uow_factory",
]
