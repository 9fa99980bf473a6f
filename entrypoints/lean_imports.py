"""Optional imports kept out of a worker's memory (docs/benchmarks.md, "Memory per worker with
every plugin loaded"). Libraries the composition root uses load other packages at import when
they happen to be installed, for features the service never uses:

- dependency-injector: pydantic-settings, or pydantic without it, and PyYAML
  (`Configuration.from_pydantic` / `from_yaml`) and werkzeug (wiring's filter for Flask's
  `LocalProxy`; the container is never wired), ~14 MB (pydantic alone ~3.4 MB);
- databases: click, for a `color_message` log extra that `entrypoints/logs.py` drops, ~2 MB;
- httpx (the plugins' client, on their first call): its command line `httpx._main`, with click,
  rich and pygments, ~4 MB of the 6.8 MB the first call to a provider added. It stays hidden for
  the life of the process (`hide_httpx_cli`): a plugin imports httpx itself, whenever it first
  needs it, and nothing in a worker runs httpx's command line;
- limits' async Redis storage: coredis (with beartype, ~9 MB) and valkey beside redis-py, the
  client it is told to use.

They are hidden while those libraries load: `import name` raises ImportError, which each of them
expects (they are optional there). A package something loaded before stays visible. The hiding is
a finder first on `sys.meta_path`, not `None` in `sys.modules`: Cython modules (dependency-injector)
take a `None` there for the module itself instead of raising."""
from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib.machinery import ModuleSpec
from types import ModuleType

DEPENDENCY_INJECTOR_EXTRAS = ("pydantic_settings", "pydantic", "yaml", "werkzeug")
DATABASES_EXTRAS = ("click",)
LIMITS_UNUSED_CLIENTS = ("coredis", "valkey")
HTTPX_CLI = ("httpx._main",)


class _Hiding:
    """A meta path finder that refuses `names` and their submodules."""

    def __init__(self, names: Sequence[str]) -> None:
        self.names = tuple(names)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> ModuleSpec | None:
        if any(fullname == name or fullname.startswith(name + ".") for name in self.names):
            raise ModuleNotFoundError(f"{fullname} is not loaded in a worker (entrypoints/lean_imports.py)",
                                      name=fullname)
        return None


@contextmanager
def hidden(names: tuple[str, ...]) -> Iterator[None]:
    """While inside, importing any of `names` (not yet loaded) raises ImportError."""
    finder = _Hiding([name for name in names if name not in sys.modules])
    sys.meta_path.insert(0, finder)
    try:
        yield
    finally:
        sys.meta_path.remove(finder)


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


def hide_httpx_cli() -> None:
    """From now on `import httpx` leaves out its command line (httpx expects ImportError there)."""
    if not any(isinstance(finder, _Hiding) and finder.names == HTTPX_CLI for finder in sys.meta_path):
        sys.meta_path.insert(0, _Hiding(HTTPX_CLI))
