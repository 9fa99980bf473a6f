"""The pure domain core: money, the catalog, memberships, transactions, sessions, refunds and the
receives ledger. Synchronous, standard library and attrs only; it never reads a clock."""

__all__ = ["catalog", "errors", "events", "ledger", "membership", "money", "period", "refund",
           "session", "transaction", "transitions"]
