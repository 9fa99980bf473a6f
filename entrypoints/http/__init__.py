"""The HTTP API of ../shared/api/CONTRACT.md on aiohttp: app factory, middlewares, handlers, schemas."""

__all__ = ["app", "auth", "errors", "idempotency", "payments", "render", "schemas", "server"]
