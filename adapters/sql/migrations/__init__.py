"""Alembic migrations of the SQL adapter's schema (`adapters.sql.tables`); applied by
`adapters.sql.migration.migrate`. New revision, against an up-to-date database:
`alembic -c adapters/sql/migrations/alembic.ini revision --autogenerate -m "…"`, then review it."""
