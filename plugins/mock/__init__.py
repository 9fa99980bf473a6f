"""The mock provider: a real, offline plugin that behaves like a payment provider (orders, its
own signed notifications, query, close, refund, its own hosted checkout page) so every flow can be
tried without credentials. Shaped as a plugin should be: `provider` (the port), `wire` (its
notifications), `checkout` (its pages, through the port's `web_routes()` hook), `remote` (the
provider's side) and `faults` (drills)."""
from plugins.mock.provider import DEVELOPMENT_WEBHOOK_SECRET, MockProvider

__all__ = ["DEVELOPMENT_WEBHOOK_SECRET", "MockProvider"]
