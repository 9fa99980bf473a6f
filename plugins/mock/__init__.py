"""The mock provider: a real, offline plugin that behaves like a payment provider (orders, its
own signed notifications, query, close, refund) so every flow can be tried without credentials."""
from plugins.mock.provider import DEVELOPMENT_WEBHOOK_SECRET, MockProvider

__all__ = ["DEVELOPMENT_WEBHOOK_SECRET", "MockProvider"]
