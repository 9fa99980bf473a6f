"""What the example plugin's tests share: its settings, a still clock, and the install check."""
from __future__ import annotations

from datetime import datetime

import pytest

import plugins

INSTALL = ("the example provider plugin is not installed: run `.venv/bin/pip install -e tests/example_plugin` "
           "in the service's work tree")
SETTINGS = {"PAYMENTS_EXAMPLE_API_URL": "https://api.examplepay.test/v1", "PAYMENTS_EXAMPLE_API_KEY": "sk_test_conformance",
            "PAYMENTS_EXAMPLE_WEBHOOK_SECRET": "whsec_conformance", "PAYMENTS_EXAMPLE_MERCHANT_ID": "M100200300"}


class Clock:
    """A clock that stands still."""

    def __init__(self, now: datetime) -> None:
        self.current = now

    def now(self) -> datetime:
        return self.current


def require_example_plugin() -> None:
    """Fail (never skip) when the example plugin is not installed: its tests are part of the suite."""
    if "example" not in plugins.available():
        pytest.fail(INSTALL, pytrace=False)
