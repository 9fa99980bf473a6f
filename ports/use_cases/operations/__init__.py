"""The operators' use cases (role `admin`): user lookup, every user's transactions, analytics and
the providers' health (docs/operations.md)."""
