"""Provider plugins and their discovery.

Plugins are Python entry points in the group `payments.providers`; the entry-point name is the
provider id used in routes, the API and the database. `discover()` loads the providers that the
method routes name, and fails fast (`PluginLoadError`, one line) when one is missing, needs a newer
port than `ports.payment_provider.PORT_VERSION`, or does not load.

Each plugin's factory is handed only its own settings (`plugin_settings`): the `PAYMENTS_<NAME>_*`
variables plus the effective `PAYMENTS_PUBLIC_URL`, never the service's secrets.
"""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import entry_points
from typing import Any

from ports.clock import Clock
from ports.payment_provider import PORT_VERSION, PaymentProvider, port_supports

GROUP = "payments.providers"
PREFIX = "PAYMENTS_"
SHARED_SETTINGS = ("PAYMENTS_PUBLIC_URL",)  # the only variables every plugin sees (not secrets)

__all__ = ["GROUP", "PluginLoadError", "available", "discover", "plugin_settings", "required_port"]


class PluginLoadError(RuntimeError):
    """A routed provider is not installed, needs another port version, or its factory failed."""


def available() -> dict[str, str]:
    """Installed provider plugins: entry-point name → `module:factory`."""
    return {ep.name: ep.value for ep in entry_points(group=GROUP)}


def plugin_settings(name: str, settings: Mapping[str, str], others: Iterable[str] = ()) -> dict[str, str]:
    """What plugin `name` may read of `settings`: its own `PAYMENTS_<NAME>_*` variables and the
    shared ones (`PAYMENTS_PUBLIC_URL`). A variable that also fits a longer name among `others`
    (the other installed plugins) is that plugin's: `PAYMENTS_WECHAT_PAY_KEY` is never `wechat`'s."""
    own = f"{PREFIX}{name.upper()}_"
    longer = tuple(f"{PREFIX}{other.upper()}_" for other in others
                   if len(other) > len(name) and f"{PREFIX}{other.upper()}_".startswith(own))
    return {key: value for key, value in settings.items()
            if key in SHARED_SETTINGS or (key.startswith(own) and not key.startswith(longer))}


def required_port(factory: Callable[..., Any], provider: Any = None) -> tuple[int, int]:
    """The port version a plugin declares (`requires_port` on its factory, the factory's class, or
    the built provider); 1.0 when it declares none. Raises `ValueError` for a malformed one."""
    owner = getattr(factory, "__self__", None)  # a classmethod such as `Provider.from_settings`
    for holder in (factory, owner, provider):
        declared = getattr(holder, "requires_port", None) if holder is not None else None
        if declared is not None:
            if not (isinstance(declared, tuple) and len(declared) == 2
                    and all(type(part) is int and part >= 0 for part in declared)):
                raise ValueError(f"requires_port must be a (major, minor) tuple of integers, not {declared!r}")
            return declared
    return (1, 0)


def discover(names: Iterable[str], settings: Mapping[str, str], *, http: Any, clock: Clock,
             production: bool = False) -> dict[str, PaymentProvider]:
    """Load and build the named providers from their entry points. `settings` may hold every
    `PAYMENTS_*` variable: each plugin receives only its own (see `plugin_settings`)."""
    installed = {ep.name: ep for ep in entry_points(group=GROUP)}
    providers: dict[str, PaymentProvider] = {}
    for name in sorted(set(names)):
        if name not in installed:
            known = ", ".join(sorted(installed)) or "none"
            raise PluginLoadError(f"payment provider {name!r} is not installed (installed: {known})")
        try:
            factory = installed[name].load()
            _check_port(name, required_port(factory))
            provider = factory(plugin_settings(name, settings, installed), http=http, clock=clock,
                               **_newer_keywords(factory, production=production))
            _check_port(name, required_port(factory, provider))
            providers[name] = provider
        except PluginLoadError:
            raise
        except Exception as error:  # a broken plugin must stop start-up with its reason
            reason = " ".join(str(error).split()) or type(error).__name__
            raise PluginLoadError(f"payment provider {name!r} failed to load: {reason}") from error
    return providers


def _check_port(name: str, required: tuple[int, int]) -> None:
    if not port_supports(required):
        have = ".".join(map(str, PORT_VERSION))
        raise PluginLoadError(f"payment provider {name!r} requires provider port {required[0]}.{required[1]}, "
                              f"but this service has {have}: upgrade the service or install an older plugin")


def _newer_keywords(factory: Callable[..., Any], **offered: Any) -> dict[str, Any]:
    """The keyword arguments added after port 1.0 that `factory` declares (by name or `**kwargs`)."""
    try:
        parameters = inspect.signature(factory).parameters
    except (TypeError, ValueError):  # no signature to read (a C callable): offer nothing new
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return offered
    return {key: value for key, value in offered.items()
            if key in parameters and parameters[key].kind in (inspect.Parameter.KEYWORD_ONLY,
                                                              inspect.Parameter.POSITIONAL_OR_KEYWORD)}
