"""Imports kept out of a worker's memory: dependency-injector loads pydantic-settings and PyYAML
at import when they are installed (for `Configuration.from_pydantic` / `from_yaml`, which the
container never uses), about 6 MB per worker; they are hidden from it while it loads."""
from __future__ import annotations

import sys
from types import ModuleType

OPTIONAL_EXTRAS = ("pydantic_settings", "yaml")


def dependency_injector_without_optional_extras() -> tuple[ModuleType, ModuleType]:
    """`dependency_injector.containers` and `.providers`, imported with its optional extras unseen
    (unless something loaded them already: then it gets them as usual)."""
    hidden = [name for name in OPTIONAL_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError
    try:
        from dependency_injector import containers, providers
    finally:
        for name in hidden:
            if sys.modules.get(name) is None:
                del sys.modules[name]
    return containers, providers
