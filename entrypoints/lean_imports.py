"""Optional imports kept out of a worker's memory (docs/benchmarks.md, "Memory per worker with
every plugin loaded"). Libraries the composition root uses load other packages at import when
they happen to be installed, for features the service never uses:

- dependency-injector: pydantic-settings and PyYAML (`Configuration.from_pydantic` / `from_yaml`)
  and werkzeug (wiring's filter for Flask's `LocalProxy`; the container is never wired), ~11 MB;
- databases: click, for a `color_message` log extra that `entrypoints/logs.py` drops, ~2 MB;
- limits' async Redis storage: coredis (with beartype, ~9 MB) and valkey beside redis-py, the
  client it is told to use.

They are hidden while those libraries load: `import name` raises ImportError, which each of them
expects (they are optional there). A package something loaded before stays visible."""
from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

DEPENDENCY_INJECTOR_EXTRAS = ("pydantic_settings", "yaml", "werkzeug")
DATABASES_EXTRAS = ("click",)
LIMITS_UNUSED_CLIENTS = ("coredis", "valkey")


@contextmanager
def hidden(names: tuple[str, ...]) -> Iterator[None]:
    """While inside, importing any of `names` (not yet loaded) raises ImportError."""
    hiding = [name for name in names if name not in sys.modules]
    for name in hiding:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        yield
    finally:
        for name in hiding:
            if sys.modules.get(name) is None:
                del sys.modules[name]


def dependency_injector_without_optional_extras() -> tuple[ModuleType, ModuleType]:
    """`dependency_injector.containers` and `.providers`, imported with its optional extras unseen."""
    with hidden(DEPENDENCY_INJECTOR_EXTRAS):
        from dependency_injector import containers, providers
    return containers, providers


def databases_without_click() -> type:
    """`databases.Database`, imported without click."""
    with hidden(DATABASES_EXTRAS):
        from databases import Database
    return Database
