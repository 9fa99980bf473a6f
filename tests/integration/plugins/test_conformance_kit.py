"""The conformance kit itself: it imports without pytest (the service's run time has none), and it
fails a plugin that breaks the contract, naming the broken rules (run in a pytest of its own)."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

BROKEN_PLUGIN_TESTS = '''
from datetime import datetime, timedelta, timezone

from adapters.clock import FixedClock
from plugins.conformance import BaseHarness, ProviderConformance
from plugins.mock import MockProvider
from ports.payment_provider import Acknowledgement, NotificationOutcome


class CarelessProvider(MockProvider):
    """The mock, with two bugs: it trusts notifications of any age, and it answers refusals 200."""

    def parse_notification(self, headers, body):
        clock, self._clock = self._clock, FixedClock(datetime.fromtimestamp(_signed_at(headers), timezone.utc))
        try:
            return super().parse_notification(headers, body)
        finally:
            self._clock = clock

    def acknowledge(self, outcome):
        return Acknowledgement(200, "text/plain", b"ok") if outcome is NotificationOutcome.REJECTED \\
            else super().acknowledge(outcome)


def _signed_at(headers):
    value = next((v for k, v in headers.items() if k.lower() == "mock-signature"), "t=0")
    try:
        return int(value.split(",")[0].partition("=")[2])
    except ValueError:
        return 0


class Harness(BaseHarness):
    def __init__(self):
        self.clock = FixedClock(datetime(2026, 3, 1, tzinfo=timezone.utc))
        self.provider = CarelessProvider(webhook_secret="s", public_url="http://p.test", clock=self.clock)

    def signed_notification(self, order, *, succeeded=True):
        return self.provider.notification_for(order, succeeded)

    def forged_notification(self, order):
        return MockProvider(webhook_secret="x", public_url="http://p.test", clock=self.clock).notification_for(order, True)

    def stale_notification(self, order, *, age_seconds=301):
        then = FixedClock(self.clock.now() - timedelta(seconds=age_seconds))
        return MockProvider(webhook_secret="s", public_url="http://p.test", clock=then).notification_for(order, True)

    def pay_remotely(self, order_id):
        self.provider.settle(order_id, True)


class TestCarelessProvider(ProviderConformance):
    def harness(self):
        return Harness()
'''


def test_the_kit_imports_without_pytest() -> None:
    code = "import sys; sys.modules['pytest'] = None; import plugins.conformance as kit; print(kit.ProviderConformance)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "ProviderConformance" in result.stdout


def test_the_kit_fails_a_plugin_that_breaks_the_contract_and_names_each_broken_rule(tmp_path: Path) -> None:
    (tmp_path / "test_careless.py").write_text(textwrap.dedent(BROKEN_PLUGIN_TESTS))
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")

    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "asyncio", "-p", "no:cacheprovider", "-rfE",
                             "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})  # only pytest-asyncio: quicker

    failed = sorted(line.split("::")[-1].split(" ")[0] for line in result.stdout.splitlines()
                    if line.startswith(("FAILED", "ERROR")))
    assert failed == ["test_a_notification_older_or_newer_than_the_tolerance_is_refused",
                      "test_acknowledging_a_rejected_notification_is_a_4xx"], result.stdout[-3000:]
    assert result.returncode == 1
