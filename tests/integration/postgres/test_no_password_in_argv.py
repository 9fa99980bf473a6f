"""The database password never appears in a process's arguments (`/proc/<pid>/cmdline` and `ps`
show them to every user of the machine): `payments serve` migrates in a child process, which
gets the database URL through its environment, not its argv.

The real start is caught while its migration child waits for the migration lock (held here), so
the child's command line can be read from /proc.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from adapters.sql.migration import ADVISORY_LOCK_KEY
from live import PAYMENTS_BIN, free_port

pytestmark = pytest.mark.postgres

PASSWORD = "argv-secret-pw-7d1c"


def with_password(url: str, password: str) -> str:
    parts = urlsplit(url)
    user = parts.username or "postgres"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:{password}@{host}"))


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def cmdline(pid: int) -> str:
    with open(f"/proc/{pid}/cmdline", "rb") as raw:
        return raw.read().replace(b"\0", b" ").decode(errors="replace")


def test_the_migration_child_of_serve_gets_the_database_url_without_the_password_on_its_argv(
        postgres_database_factory, tmp_path):
    url = with_password(postgres_database_factory("argv"), PASSWORD)  # trust auth: any password connects
    port = free_port()
    env = {**os.environ, "PAYMENTS_DATABASE_URL": url, "PAYMENTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3")}
    with psycopg.connect(url, autocommit=True) as lock:
        lock.execute("SELECT pg_advisory_lock(%s)", (ADVISORY_LOCK_KEY,))  # the migration child waits on it
        log = (tmp_path / "serve.log").open("w")
        process = subprocess.Popen([str(PAYMENTS_BIN), "serve", "--port", str(port)], env=env, cwd=tmp_path,
                                   stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            seen: list[str] = []
            while time.monotonic() < deadline and not seen:
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                seen = [cmdline(pid) for pid in children(process.pid)]
                time.sleep(0.05)
            assert seen, "the migration child never started"
            assert cmdline(process.pid) and PASSWORD not in cmdline(process.pid)
            for line in seen:
                assert PASSWORD not in line, line
                assert "migrat" in line, line  # it is the migration child
            lock.execute("SELECT pg_advisory_unlock(%s)", (ADVISORY_LOCK_KEY,))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:  # the child migrated with the URL it was given
                assert process.poll() is None, (tmp_path / "serve.log").read_text()
                with psycopg.connect(url, autocommit=True) as check:
                    if check.execute("SELECT to_regclass('public.alembic_version') IS NOT NULL").fetchone()[0]:
                        break
                time.sleep(0.1)
            else:
                raise AssertionError("the migration did not run")
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            log.close()


def test_serve_hands_the_migration_child_the_url_in_its_environment(monkeypatch):
    from entrypoints.config import load_config
    from entrypoints.http import server

    url = f"postgresql://payments:{PASSWORD}@db.invalid:5432/payments"
    started = []

    def run(args, **options):
        started.append((args, options))
        return subprocess.CompletedProcess(args, 1)

    monkeypatch.setattr(server.subprocess, "run", run)
    monkeypatch.setattr(server, "configure_logging", lambda: None)
    assert server.serve(load_config({"PAYMENTS_DATABASE_URL": url})) == 1  # the (faked) migration failed

    ((args, options),) = started
    assert not [arg for arg in args if PASSWORD in arg], args
    assert options["env"]["PAYMENTS_DATABASE_URL"] == url
