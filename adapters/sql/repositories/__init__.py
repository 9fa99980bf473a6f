"""The SQL repositories (`ports.repositories`), one module each, on `databases` + SQLAlchemy
Core for PostgreSQL and SQLite alike. They run on the `SqlContext` of the unit of work that
owns them (`adapters.sql.context`, which also says how aggregates are inserted, updated and
locked beyond the ports' contract)."""
