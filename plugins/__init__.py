"""Provider plugins and their discovery.

Plugins are Python entry points in the group `payments.providers`; the entry-point name is the
provider id used in routes, the API and the database. `discover()` loads the providers that the
method routes name, and fails fast (`PluginLoadError`) when one is missing or does not load.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from ports.clock import Clock
from ports.payment_provider import PaymentProvider

GROUP = "payments.providers"

__all__ = ["GROUP", "PluginLoadError", "available", "discover"]


class PluginLoadError(RuntimeError):
    """A routed provider is not installed, or its factory failed."""


def available() -> dict[str, str]:
    """Installed provider plugins: entry-point name → `module:factory`."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def discover(names: Iterable[str], settings: Mapping[str, str], *, http: Any, clock: Clock) -> dict[str, PaymentProvider]:
    """Load and build the named providers from their entry points."""
    installed = {ep.name: ep for ep in entry_points(group=GROUP)}
    providers: dict[str, PaymentProvider] = {}
    for name in sorted(set(names)):
        if name not in installed:
            known = ", ".join(sorted(installed)) or "none"
            raise PluginLoadError(f"payment provider {name!r} is not installed (installed: {known})")
        try:
            factory = installed[name].load()
            providers[name] = factory(settings, http=http, clock=clock)
        except PluginLoadError:
            raise
        except Exception as error:  # a broken plugin must stop start-up with its reason
            raise PluginLoadError(f"payment provider {name!r} failed to load: {error}") from error
    return providers
