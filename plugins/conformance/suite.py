"""`ProviderConformance`: every check of the kit in one class, for a plugin's tests to subclass."""
from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from plugins.conformance.acknowledgements import AcknowledgementChecks
from plugins.conformance.base import fixture
from plugins.conformance.harness import Harness
from plugins.conformance.notifications import NotificationChecks
from plugins.conformance.orders import OrderChecks
from plugins.conformance.plugin import PluginChecks
from plugins.conformance.refunds import RefundChecks
from plugins.conformance.remote import RemoteFailureChecks


class ProviderConformance(PluginChecks, OrderChecks, RefundChecks, NotificationChecks, AcknowledgementChecks,
                          RemoteFailureChecks):
    """Subclass it as `Test…` and give it a harness, in one of three ways:

        class TestMyProvider(ProviderConformance, harness=MyHarness): pass     # a zero-argument factory
        class TestMyProvider(ProviderConformance):                             # a method
            def harness(self): return MyHarness()
        class TestMyProvider(ProviderConformance): pass                        # a pytest fixture `harness`
                                                                               # of the module or a conftest
    A new harness is built for every check, and its `close()`, if it has one, called after it."""

    def __init_subclass__(cls, harness: Callable[[], Harness] | None = None, **kwargs: Any) -> None:
        """`harness=` or a plain `def harness(self)` becomes the class's pytest fixture `harness`,
        which every check requests (a fixture `harness` defined elsewhere is used as it is)."""
        super().__init_subclass__(**kwargs)
        plain = cls.__dict__.get("harness")
        if harness is not None:
            if plain is not None:
                raise TypeError(f"{cls.__name__}: give the harness once, as harness= or as a harness() method")
            cls.harness = _harness_fixture(lambda self: harness())  # type: ignore[attr-defined]
        elif inspect.isfunction(plain):
            cls.harness = _harness_fixture(plain)  # type: ignore[attr-defined]


def _harness_fixture(build: Callable[[Any], Harness]) -> Callable:
    def harness(self: Any) -> Iterator[Harness]:
        built = build(self)
        yield built
        close = getattr(built, "close", None)
        if callable(close):
            close()

    return fixture(harness)
