"""schemathesis against the live service, with all its checks and a fixed seed: no 500s, every
response conforms to the OpenAPI document, invalid input is refused, valid input accepted, and
missing authentication is refused. The service runs as `payments serve` in its own process, on
a fresh SQLite file, exactly as a developer starts it."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from entrypoints.cli import mint_token

HERE = Path(__file__).parent
BIN = Path(sys.executable).parent
SECRET = "schemathesis-run-secret-0123456789abcdef0123"
SEED = "42"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_healthy(url: str, server: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError("the server exited early; see server.log in the test's tmp_path")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"the server did not answer /healthz within {timeout} s")


def test_the_live_api_conforms_to_its_openapi_document(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PAYMENTS_JWT_SECRET": SECRET, "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/fuzz.db",
           "PAYMENTS_PORT": str(port), "PAYMENTS_ENV": "development"}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([str(BIN / "payments"), "serve"], env=env, cwd=tmp_path,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_healthy(url, server)
        token = mint_token(SECRET, "fuzz-user", "service", 3600)
        # The event stream of an open session runs until the session ends: schemathesis waits its
        # request timeout on each one it opens (10 s by default), so a short one keeps the run short.
        run = subprocess.run(
            [str(BIN / "schemathesis"), "run", f"{url}/api/docs/swagger.json", "--checks", "all", "--seed", SEED,
             "--max-examples", "50", "--workers", "2", "--request-timeout", "5",
             # No stateful phase: its links inferred from responses send the refund quote without its
             # required `transaction_id` (a request the document itself calls invalid), and a hook
             # cannot put it back. Every operation is still fuzzed alone.
             "--phases", "examples,coverage,fuzzing",
             "-H", f"Authorization: Bearer {token}", "--no-color"],
            env={**env, "PYTHONPATH": str(HERE), "SCHEMATHESIS_HOOKS": "schemathesis_hooks"},
            capture_output=True, text=True, timeout=600)
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
