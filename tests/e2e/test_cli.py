"""The `payments` command as a user runs it: help, tokens, migrations, production refusals,
and `serve` with several worker processes on one port."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt

BIN = Path(sys.executable).parent / "payments"


def run(*args: str, env: dict | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=60, cwd=cwd,
                          env={**os.environ, **(env or {})})


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("serve", "migrate", "token"))


def test_token_prints_an_hs256_token_with_sub_exp_and_role():
    result = run("token", "user-7", "--role", "service", env={"PAYMENTS_JWT_SECRET": "cli-secret-" + "x" * 32})
    claims = jwt.decode(result.stdout.strip(), "cli-secret-" + "x" * 32, algorithms=["HS256"])
    assert (claims["sub"], claims["role"]) == ("user-7", "service") and claims["exp"] > time.time()


def test_production_with_the_development_secret_stops_with_one_line_and_a_nonzero_exit(tmp_path):
    result = run("serve", env={"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": ""}, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0 and "PAYMENTS_JWT_SECRET" in result.stderr
    assert not (tmp_path / "payments.db").exists()


def test_production_with_a_route_to_the_mock_stops_with_one_line(tmp_path):
    result = run("serve", env={"PAYMENTS_ENV": "production", "PAYMENTS_JWT_SECRET": "p" * 40,
                               "PAYMENTS_METHOD_ROUTES": "alipay=mock"}, cwd=tmp_path)
    assert result.returncode != 0 and "mock" in result.stderr and result.stderr.strip().count("\n") == 0


def test_migrate_creates_the_sqlite_schema_and_is_a_no_op_the_second_time(tmp_path):
    env = {"PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    first, second = run("migrate", env=env), run("migrate", env=env)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert (tmp_path / "m.db").exists()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


def test_serve_with_two_workers_answers_from_two_processes_on_one_port(tmp_path):
    port = _free_port()
    env = {**os.environ, "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/w.db", "PAYMENTS_JWT_SECRET": "w" * 40}
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([str(BIN), "serve", "--port", str(port), "--workers", "2"], env=env, cwd=tmp_path,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        body = None
        while time.monotonic() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as response:
                    body = json.loads(response.read())
            except OSError:
                time.sleep(0.1)
        assert body == {"status": "ready"}
        deadline = time.monotonic() + 30
        while len(_children(server.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(_children(server.pid)) == 2
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    assert server.returncode == 0


def test_a_route_to_a_provider_that_is_not_installed_stops_start_up_with_one_line(tmp_path):
    result = run("serve", env={"PAYMENTS_METHOD_ROUTES": "alipay=nowhere_pay", "PAYMENTS_DATABASE_URL":
                               f"sqlite:///{tmp_path}/x.db"}, cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere_pay" in result.stderr and "not installed" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert not (tmp_path / "x.db").exists()
