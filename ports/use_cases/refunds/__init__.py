"""Refunds: sending them to providers and following them until they end."""
