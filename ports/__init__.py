"""The application layer: ports (what the core needs from the outside world) and the use cases
(`ports.use_cases`) that drive the domain through them."""

__all__ = ["clock", "idempotency", "ids", "payment_provider", "repositories", "unit_of_work", "use_cases"]
