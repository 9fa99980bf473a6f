"""The plugins' HTTP client is made on first use: a worker whose providers never call out (the
mock) loads no httpx, which is a tenth of a worker's memory. Each check runs in a fresh
interpreter, where `sys.modules` shows what was imported."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def run(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def test_loading_the_service_and_the_mock_plugin_imports_no_httpx() -> None:
    assert run(
        "import sys\n"
        "from adapters.clock import SystemClock\n"
        "from entrypoints.container import build_container\n"
        "from entrypoints.http.app import create_app\n"
        "from entrypoints.http.server import serve\n"
        "from entrypoints.http_client import LazyHttpClient\n"
        "from plugins import discover\n"
        "providers = discover(['mock'], {'PAYMENTS_MOCK_STATE_PATH': ':memory:'}, http=LazyHttpClient(),"
        " clock=SystemClock())\n"
        "print(sorted(providers), 'httpx' in sys.modules)\n"
    ) == "['mock'] False"


def test_the_client_is_made_with_its_timeouts_on_first_use() -> None:
    assert run(
        "import sys\n"
        "from entrypoints.http_client import LazyHttpClient\n"
        "client = LazyHttpClient()\n"
        "before = 'httpx' in sys.modules\n"
        "timeout = client.timeout\n"
        "print(before, type(client._real()).__name__, timeout.read, timeout.connect)\n"
    ) == "False AsyncClient 10.0 5.0"
