"""The conformance kit's pytest plugin, registered with the entry point `payments_conformance`
(group `pytest11`), so pytest loads it wherever this service is installed; nothing to configure.

- It runs the kit's `async` checks on a fresh event loop each, so a plugin's tests need neither
  pytest-asyncio nor `asyncio_mode = auto` (where pytest-asyncio runs them, it is left to).
- It marks every check of the kit `payments_conformance`: `pytest -m payments_conformance` runs the
  kit alone, `-m "not payments_conformance"` everything else.
"""
from __future__ import annotations

import asyncio
import inspect
from typing import Any

import pytest

MARKER = "payments_conformance"
_KIT = "plugins.conformance."


def _of_the_kit(function: Any) -> bool:
    return getattr(function, "__module__", "").startswith(_KIT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", f"{MARKER}: a check of the payment provider conformance kit")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _of_the_kit(getattr(item, "function", None)):
            item.add_marker(MARKER)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """A check of the kit that is still a coroutine function here (no pytest-asyncio took it)."""
    function = pyfuncitem.obj
    if not (inspect.iscoroutinefunction(function) and _of_the_kit(function)):
        return None
    arguments = {name: pyfuncitem.funcargs[name] for name in inspect.signature(function).parameters}
    asyncio.run(function(**arguments))
    return True
