"""A newcomer's first ten minutes, with the real `payments` command: `payments serve` says in one
human line, once it serves, where it listens, where the docs are, which database (never its
password) and which providers, once however many workers; a `PAYMENTS_DATABASE_URL` it cannot
use (unknown scheme, not a URL, a server that does not answer, a database that does not exist,
a SQLite file that cannot be created) stops `serve` and `migrate` with one line naming the
problem and the URL without its password, a non-zero exit and no traceback; `payments token
--ttl` refuses a lifetime the server would refuse; `payments --version`; the JSON logs carry no
terminal colours (the `databases` library's `color_message`); every SQLite file a running server
leaves beside it (`-wal`, `-shm` included) is git-ignored."""
from __future__ import annotations

import fnmatch
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path

import pytest

from live import PAYMENTS_BIN, free_port

READY = "payments: serving on "
PASSWORD = "hunter2-not-to-be-seen"
ROUTES = "wechat_pay=mock,alipay=mock,credit_card=mock,mock=mock"
GITIGNORE = Path(__file__).resolve().parents[2] / ".gitignore"


def git_ignored(name: str) -> bool:
    """Whether a file of this name in the checkout's root is ignored by one of `.gitignore`'s globs."""
    patterns = [line.strip() for line in GITIGNORE.read_text().splitlines()
                if line.strip() and not line.startswith(("#", "!"))]
    return any(fnmatch.fnmatchcase(name, pattern.rstrip("/")) for pattern in patterns)


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PAYMENTS_")}
    return {**env, "PAYMENTS_JWT_SECRET": "t" * 40, "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3"),
            "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/payments.db", **extra}


def until(condition: Callable[[], object], what: str, timeout: float = 30) -> object:
    """`condition()` once it is truthy (bounded wait)."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)
    return found


def get(url: str | urllib.request.Request) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


@contextmanager
def serving(tmp_path: Path, *args: str, **env: str) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """`payments serve ARGS` from `tmp_path`, its stdout and stderr in files; stopped at the end."""
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([str(PAYMENTS_BIN), "serve", *args], cwd=tmp_path, stdout=stdout, stderr=stderr,
                                   env=environment(tmp_path, **env))
    try:
        yield process, out, err
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def ready_lines(out: Path, process: subprocess.Popen, err: Path) -> list[str]:
    assert process.poll() is None, err.read_text()
    return [line for line in out.read_text().splitlines() if line.startswith(READY)]


def test_serve_says_once_it_serves_where_it_listens_the_docs_the_database_and_the_providers(tmp_path: Path):
    port = free_port()
    with serving(tmp_path, "--port", str(port), PAYMENTS_METHOD_ROUTES=ROUTES) as (process, out, err):
        (line,) = until(lambda: ready_lines(out, process, err), "the ready line")
        status, body = get(f"http://127.0.0.1:{port}/readyz")  # at once: it serves when it says so
        assert (status, json.loads(body)) == (200, {"status": "ready"})

        base = f"http://127.0.0.1:{port}"
        assert line == (f"payments: serving on {base} — docs {base}/api/docs — database "
                        f"sqlite:///{tmp_path}/payments.db — providers mock (wechat_pay, alipay, credit_card, mock)")
        assert get(f"{base}/api/docs")[0] == 200
        token = subprocess.run([str(PAYMENTS_BIN), "token", "alice", "--ttl", "60"], capture_output=True, text=True,
                               timeout=60, env=environment(tmp_path), check=True).stdout.strip()
        request = urllib.request.Request(f"{base}/api/v1/payments/membership",
                                         headers={"Authorization": f"Bearer {token}"})
        assert get(request)[0] == 200  # the README's next step: a token, and a first call
        assert out.read_text().splitlines() == [line]  # stdout has the one human line; the JSON logs are on stderr
        logs = err.read_text()
        assert all(json.loads(log)["level"] for log in logs.splitlines())
        assert any(json.loads(log)["logger"] == "databases" for log in logs.splitlines())  # it did log its connection
        assert "\x1b" not in logs and "\\u001b" not in logs and "color_message" not in logs

        made = sorted(path.name for path in tmp_path.iterdir() if path.name not in {"stdout.txt", "stderr.txt"})
        assert any(name.endswith(("-wal", "-shm")) for name in made), made  # SQLite in WAL mode
        assert [name for name in made if not git_ignored(name)] == [], made


@pytest.mark.postgres
def test_the_ready_line_never_shows_the_database_password(tmp_path: Path, postgres_database_factory):
    url = postgres_database_factory("ready").replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    port = free_port()
    with serving(tmp_path, "--port", str(port), PAYMENTS_DATABASE_URL=url) as (process, out, err):
        (line,) = until(lambda: ready_lines(out, process, err), "the ready line")
        assert f"— database {url.replace(':' + PASSWORD, '')} —" in line
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert PASSWORD not in out.read_text() + err.read_text()


def _workers(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.add(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


def _connected(err: Path) -> int:
    """How many worker processes have connected to the database (each logs it once at start-up)."""
    return sum('"logger":"databases","message":"Connected to database' in line for line in err.read_text().splitlines())


def test_with_several_workers_the_ready_line_is_printed_once_even_when_a_worker_is_replaced(tmp_path: Path):
    port = free_port()
    with serving(tmp_path, "--port", str(port), "--workers", "2") as (process, out, err):
        (line,) = until(lambda: ready_lines(out, process, err), "the ready line")
        assert line.endswith(" — 2 workers")
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        first = until(lambda: (found := _workers(process.pid)) and len(found) == 2 and found, "two workers")
        until(lambda: _connected(err) >= 2, "both workers to start")
        assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200

        os.kill(min(first), signal.SIGKILL)  # gunicorn replaces it; the new one starts quietly
        until(lambda: len(_workers(process.pid) - first) == 1 and len(_workers(process.pid)) == 2, "a new worker")
        until(lambda: _connected(err) >= 3, "the new worker to start")
        assert get(f"http://127.0.0.1:{port}/readyz")[0] == 200
        assert ready_lines(out, process, err) == [line]


@pytest.mark.parametrize("ttl", ["0", "-5", "86401"])
def test_a_token_lifetime_the_server_would_refuse_is_refused_in_one_line(tmp_path: Path, ttl: str):
    result = subprocess.run([str(PAYMENTS_BIN), "token", "alice", "--ttl", ttl], capture_output=True, text=True,
                            timeout=60, env=environment(tmp_path))
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == ("payments: --ttl must be between 1 and 86400 seconds (PAYMENTS_JWT_MAX_TTL_SECONDS), "
                             f"not {ttl}\n")


def test_version_prints_the_installed_version():
    result = subprocess.run([str(PAYMENTS_BIN), "--version"], capture_output=True, text=True, timeout=60)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"payments {version('membership-payments')}\n", "")


# ---------------------------------------------------------------------- a database URL it cannot use
def refused(tmp_path: Path, command: str, url: str) -> str:
    """Run `payments COMMAND` with `url`; check it stopped with one line on stderr, no traceback,
    nothing on stdout and a non-zero exit, and return the line."""
    args = [command, "--port", str(free_port())] if command == "serve" else [command]
    result = subprocess.run([str(PAYMENTS_BIN), *args], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env=environment(tmp_path, PAYMENTS_DATABASE_URL=url))
    assert result.returncode != 0
    assert result.stdout == ""
    assert "Traceback" not in result.stderr and result.stderr.endswith("\n") and result.stderr.count("\n") == 1, \
        result.stderr
    assert PASSWORD not in result.stderr
    return result.stderr.strip()


COMMANDS = pytest.mark.parametrize("command", ["serve", "migrate"])


@COMMANDS
def test_an_unknown_scheme_is_named(tmp_path: Path, command: str):
    line = refused(tmp_path, command, f"mysql://payments:{PASSWORD}@127.0.0.1/payments")
    assert line == ("payments: configuration error: PAYMENTS_DATABASE_URL has an unknown scheme 'mysql' (use "
                    "postgresql://user@host:5432/db or sqlite:///./payments.db): mysql://payments@127.0.0.1/payments")


@COMMANDS
@pytest.mark.parametrize("url", [f"postgresql://payments:{PASSWORD}@[127.0.0.1/payments",
                                 f"postgresql://payments:{PASSWORD}@127.0.0.1:port/payments",
                                 "no scheme at all"])
def test_a_url_that_does_not_parse_is_named(tmp_path: Path, command: str, url: str):
    line = refused(tmp_path, command, url)
    assert line.startswith("payments: configuration error: PAYMENTS_DATABASE_URL ")
    assert line.endswith(url.replace(f":{PASSWORD}", ""))


@COMMANDS
def test_a_server_that_does_not_answer_is_named(tmp_path: Path, command: str):
    url = f"postgresql://payments:{PASSWORD}@127.0.0.1:{free_port()}/payments"
    line = refused(tmp_path, command, url)
    assert line.startswith(f"payments: cannot use the database {url.replace(':' + PASSWORD, '')} "
                           "(PAYMENTS_DATABASE_URL): ")
    assert "Connection refused" in line


@COMMANDS
@pytest.mark.postgres
def test_a_database_that_does_not_exist_is_named(tmp_path: Path, command: str, postgres_database_factory):
    server = postgres_database_factory("exists").replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")
    url = server.rsplit("/", 1)[0] + "/payments_no_such_database"
    line = refused(tmp_path, command, url)
    assert line.startswith(f"payments: cannot use the database {url.replace(':' + PASSWORD, '')} "
                           "(PAYMENTS_DATABASE_URL): connection to server at ")
    assert line.endswith('failed: FATAL: database "payments_no_such_database" does not exist')


@COMMANDS
def test_a_sqlite_file_that_cannot_be_created_is_named(tmp_path: Path, command: str):
    url = f"sqlite:///{tmp_path}/no/such/directory/payments.db"
    line = refused(tmp_path, command, url)
    assert line == f"payments: cannot use the database {url} (PAYMENTS_DATABASE_URL): unable to open database file"
