"""The Prometheus alert rules the service ships (docs/prometheus/alerts.yml): `promtool check
rules` accepts them and `promtool test rules` fires each alert from known series
(docs/prometheus/alerts_test.yml), the success-rate alert only with at least 20 sessions.
`promtool` is Debian's `prometheus` package (`.ci/run` installs it when missing); outside CI a
machine without it skips these, in CI they fail."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[2] / "docs" / "prometheus"


@pytest.fixture(scope="module")
def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("promtool is missing (Debian's prometheus package; .ci/run installs it)")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return found


def run(*args: str, cwd: Path = RULES) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), check=False, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_promtool_accepts_the_rules(promtool):
    checked = run(promtool, "check", "rules", "alerts.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 3 rules found" in checked.stdout


def test_the_rules_unit_tests_fire_each_alert(promtool):
    tested = run(promtool, "test", "rules", "alerts_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_the_success_rate_alert_needs_twenty_sessions(promtool, tmp_path):
    """The same failing rate with 19 sessions ended fires nothing: the unit test's expectation of
    an alert is then refused by promtool."""
    shutil.copy(RULES / "alerts.yml", tmp_path / "alerts.yml")
    test = (RULES / "alerts_test.yml").read_text()
    few = test.replace("values: '30x14'", "values: '19x14'")
    assert few != test
    (tmp_path / "alerts_test.yml").write_text(few)
    tested = run(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "PaymentsSuccessRateLow" in tested.stdout + tested.stderr


def test_a_broken_rule_is_refused(promtool, tmp_path):
    broken = re.sub(r"< 0\.8", "< < 0.8", (RULES / "alerts.yml").read_text())
    (tmp_path / "alerts.yml").write_text(broken)
    assert run(promtool, "check", "rules", "alerts.yml", cwd=tmp_path).returncode != 0
