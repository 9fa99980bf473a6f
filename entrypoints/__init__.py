"""Driving adapters and the composition root: the command line and the HTTP application."""

__all__ = ["cli"]
