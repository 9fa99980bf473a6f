"""Driven adapters: the in-memory fakes, the SQL (`databases`) adapter, clocks and id generators."""

__all__ = ["clock", "ids", "memory", "sql"]
