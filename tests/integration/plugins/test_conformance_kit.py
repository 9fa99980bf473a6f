"""The conformance kit itself: it imports without pytest (the service's run time has none); it is
a pytest plugin of its own (entry point `payments_conformance`) that runs its async checks without
pytest-asyncio; one line runs it; and each check fails a plugin that breaks its rule (and passes
one that keeps it), naming the rule."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from fake_plugin import BUGS, FakeHarness
from plugins.conformance import ProviderConformance

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


class TestCarelessProvider(ProviderConformance, harness=Harness): pass
'''


def run_pytest(tmp_path: Path, *plugins: str) -> subprocess.CompletedProcess:
    """pytest over `tmp_path` in a process of its own, with only the plugins named (no asyncio ones)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")  # strict markers off, no asyncio_mode: a plugin's own set-up
    options = [option for plugin in plugins for option in ("-p", plugin)]
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "-rfEs",
                           "--rootdir", str(tmp_path), "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"})


def failed_checks(result: subprocess.CompletedProcess) -> list[str]:
    return sorted(line.split("::")[-1].split(" ")[0] for line in result.stdout.splitlines()
                  if line.startswith(("FAILED", "ERROR")))


# ---------------------------------------------------------------------- the kit as a package and a pytest plugin
def test_the_kit_imports_without_pytest() -> None:
    code = ("import sys; sys.modules['pytest'] = None; import plugins.conformance as kit; "
            "from plugins.conformance import BaseHarness, Harness, Notification, TOLERANCE_SECONDS, new_order_id; "
            "print(kit.ProviderConformance)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    assert "ProviderConformance" in result.stdout


def test_the_kit_is_registered_as_a_pytest_plugin_by_its_own_entry_point() -> None:
    registered = {ep.name: ep.value for ep in entry_points(group="pytest11")}

    assert registered.get("payments_conformance") == "plugins.conformance.pytest_plugin", \
        "reinstall the service (pip install -e .) after changing its entry points"


def test_one_line_runs_the_kit_without_pytest_asyncio_and_fails_a_broken_plugin_naming_each_broken_rule(
        tmp_path: Path) -> None:
    (tmp_path / "test_careless.py").write_text(textwrap.dedent(BROKEN_PLUGIN_TESTS))

    result = run_pytest(tmp_path, "payments_conformance")  # by its entry-point name, as autoloading would

    assert failed_checks(result) == ["test_a_notification_older_or_newer_than_the_tolerance_is_refused",
                                     "test_acknowledging_a_rejected_notification_is_a_401"], result.stdout[-3000:]
    assert " passed" in result.stdout and "async def functions are not natively supported" not in result.stdout
    assert result.returncode == 1


def test_without_the_kits_pytest_plugin_its_async_checks_would_not_run(tmp_path: Path) -> None:
    (tmp_path / "test_careless.py").write_text(textwrap.dedent(BROKEN_PLUGIN_TESTS))

    result = run_pytest(tmp_path)

    assert result.returncode == 1 and " passed" not in result.stdout.splitlines()[-1], result.stdout[-2000:]


# ---------------------------------------------------------------------- how a harness is given
class Closing(FakeHarness):
    closed: list[bool] = []

    def close(self) -> None:
        Closing.closed.append(True)


class TestTheOneLineForm(ProviderConformance, harness=Closing):
    """`harness=` builds one harness per check and closes it after (the kit runs here in full,
    against FakePay: the checks it cannot pass, installation and a failing remote, are left out)."""

    test_the_provider_is_installed_under_its_name_with_a_factory_taking_settings_http_and_clock = None
    test_a_remote_5xx_is_provider_unavailable_for_every_call = None
    test_a_refused_connection_or_a_timeout_is_provider_unavailable_and_no_httpx_error_escapes = None
    test_a_remote_4xx_refusal_is_a_provider_error_whose_outcome_is_known = None


def test_the_one_line_form_closed_the_harness_of_every_check_it_ran() -> None:
    assert Closing.closed, "TestTheOneLineForm ran no check"


def test_a_harness_given_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="give the harness once"):
        class TestTwice(ProviderConformance, harness=FakeHarness):
            def harness(self):
                return FakeHarness()


# ---------------------------------------------------------------------- each check fails the bug it exists for
CHECKS_AND_BUGS = [
    ("test_acknowledging_a_rejected_notification_is_a_401", "ack_rejected_403"),
    ("test_acknowledging_a_notification_to_retry_is_a_5xx_so_the_provider_resends", "ack_retry_200"),
    ("test_every_acknowledgement_has_a_valid_content_type_and_aiohttp_serves_it_as_given", "ack_bad_content_type"),
    ("test_a_re_delivery_signed_again_later_has_the_same_event_id", "event_id_from_signature"),
    ("test_a_payment_and_refunds_of_the_same_order_have_different_event_ids", "event_id_from_order"),
    ("test_amounts_are_read_exactly_as_integer_minor_units", "float_arithmetic"),
    ("test_an_amount_written_as_a_float_or_a_string_or_beyond_the_minor_unit_is_refused_never_rounded",
     "lenient_amount"),
    ("test_an_amount_written_as_a_float_or_a_string_or_beyond_the_minor_unit_is_refused_never_rounded",
     "float_arithmetic"),
    ("test_a_notification_in_another_currency_reports_that_currency_never_the_orders", "coerce_currency"),
    ("test_a_notification_in_a_currency_the_service_does_not_know_is_reported_as_it_is_or_refused",
     "unknown_currency_crash"),
    ("test_a_notification_whose_signed_time_was_changed_without_signing_again_is_refused", "unsigned_timestamp"),
    ("test_a_notification_within_the_tolerance_up_to_its_exact_bound_is_accepted", "tolerance_exclusive"),
    ("test_a_notification_older_or_newer_than_the_tolerance_is_refused", "tolerance_loose"),
    ("test_querying_a_refund_the_provider_does_not_know_raises_refund_not_found", "unknown_refund_pending"),
    ("test_querying_a_refund_the_provider_does_not_know_raises_refund_not_found", "unknown_refund_plain_error"),
    ("test_pages_the_plugin_serves_are_aiohttp_routes_on_absolute_paths_outside_the_api", "pages_under_api"),
    ("test_a_declared_port_version_is_one_this_service_serves", "requires_newer_port"),
]


async def run_check(check: str, harness: FakeHarness) -> None:
    """One check of the kit, as pytest would run it; a skip would hide the point, so it fails."""
    try:
        await getattr(ProviderConformance(), check)(harness)
    except pytest.skip.Exception as skipped:
        pytest.fail(f"{check} skipped instead of checking: {skipped}")


def test_every_bug_of_fakepay_is_caught_by_some_check() -> None:
    assert {bug for _, bug in CHECKS_AND_BUGS} == BUGS


@pytest.mark.parametrize(("check", "bug"), CHECKS_AND_BUGS)
async def test_the_check_passes_fakepay_and_fails_it_with_the_bug_it_exists_for(check: str, bug: str) -> None:
    await run_check(check, FakeHarness())

    with pytest.raises(AssertionError):
        await run_check(check, FakeHarness(frozenset({bug})))


@pytest.mark.parametrize("content_type", ["text/plain;charset=utf-8", "text/plain; charset=UTF-8",
                                          "application/json", 'text/plain; charset="utf-8"; format=flowed'])
async def test_any_valid_content_type_is_served_as_given(content_type: str) -> None:
    await run_check("test_every_acknowledgement_has_a_valid_content_type_and_aiohttp_serves_it_as_given",
                    FakeHarness(content_type=content_type))


@pytest.mark.parametrize("content_type", ["json", "text/plain; charset", "text/plain\r\nX-Injected: 1",
                                          "text/plain;;charset=utf-8", "text /plain"])
async def test_a_content_type_that_is_not_one_fails_the_kit(content_type: str) -> None:
    with pytest.raises(AssertionError, match="is not a Content-Type"):
        await run_check("test_every_acknowledgement_has_a_valid_content_type_and_aiohttp_serves_it_as_given",
                        FakeHarness(content_type=content_type))
