"""Helpers of the load tests (tests/load): `payments serve` as real worker processes on PostgreSQL,
driven by many concurrent HTTP requests. The server itself is started by `live.serve_process`.

- `raise_open_files_limit`: bursts of a thousand sockets need more than a 1024 default.
- `worker_pids`: a gunicorn master's worker processes (its children, read from /proc).
- `client_connections`: how many established client connections on a port a process holds.
- `sql`: a query on the test database (psycopg, autocommit), rows as tuples.
- `signed_notification`: a mock `payment.succeeded` notification signed as the mock signs it.
- `observe`: what a test saw (answer counts), appended as a JSON line to the file named by
  PAYMENTS_LOAD_REPORT when it is set; nothing is printed.
- `Client.answered`: a POST retried, with the same body and headers (so the same
  `Idempotency-Key`), on connection errors, on 409 `idempotency_request_in_progress` and on a
  5xx that is not a replay, until another answer or a bounded deadline.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import resource
import secrets
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import psycopg

RECEIVES = "/api/v1/payments/receives"
SESSIONS = "/api/v1/payments/sessions"
TRANSACTIONS = "/api/v1/payments/transactions"
MEMBERSHIP = "/api/v1/payments/membership"
CONSUME = "/api/v1/internal/receives/consume"
MOCK_WEBHOOK = "/api/v1/payments/webhooks/mock"
IN_PROGRESS = "idempotency_request_in_progress"


def observe(test: str, **counts: Any) -> None:
    path = os.environ.get("PAYMENTS_LOAD_REPORT")
    if path:
        with open(path, "a") as report:
            report.write(json.dumps({"test": test, **counts}, default=str) + "\n")


def raise_open_files_limit(wanted: int = 8192) -> None:
    """Raise this process's soft limit of open files (inherited by the server it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def worker_pids(master: int, log: Path | None = None) -> set[int]:
    """The live child processes of `master` (gunicorn's workers), from /proc; with the server's
    `log`, only those it booted as workers ("Booting worker with pid: N")."""
    booted = None
    if log is not None:
        booted = {int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", log.read_text())}
    children = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        state, ppid = fields[0], int(fields[1])
        if ppid == master and state != "Z" and (booted is None or int(entry) in booted):
            children.add(int(entry))
    return children


def client_connections(pid: int, port: int) -> int:
    """Established TCP connections whose local port is `port` held by process `pid` (from /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # 01: ESTABLISHED
                        inodes.add(fields[9])
        except OSError:
            continue
    held = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held += 1
    except OSError:
        return 0
    return held


def sql(url: str, query: str, *params: Any) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.execute(query, params)
        return cursor.fetchall() if cursor.description is not None else []


def signed_notification(secret: str, session: dict, *, kind: str = "payment.succeeded") -> tuple[bytes, dict]:
    """Body and headers of the mock's notification that `session` (as the API shows it) was paid,
    signed with the mock's webhook secret (the contract's `Mock-Signature`)."""
    now = int(time.time())
    body = json.dumps({"id": f"evt_{secrets.token_hex(12)}", "type": kind, "session_id": session["id"],
                       "order_id": session["order_id"], "amount": session["amount"],
                       "currency": session["currency"], "created": now}, separators=(",", ":")).encode()
    mac = hmac.new(secret.encode(), str(now).encode() + b"." + body, hashlib.sha256).hexdigest()
    return body, {"Mock-Signature": f"t={now},v1={mac}", "Content-Type": "application/json"}


@attrs.frozen
class Answer:
    status: int
    body: bytes
    replayed: bool

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except (ValueError, KeyError, TypeError):
            return None


async def post_once(http: aiohttp.ClientSession, url: str, *, json_body: Any = None, data: bytes | None = None,
                    headers: dict | None = None) -> Answer:
    async with http.post(url, json=json_body, data=data, headers=headers) as response:
        return Answer(response.status, await response.read(), response.headers.get("Idempotent-Replayed") == "true")


@attrs.define
class Client:
    """A client that insists until it gets an answer (see the module docstring); it counts what
    it met on the way in `seen` (`connection_error`, `in_progress`, `5xx`, and final statuses)."""

    http: aiohttp.ClientSession
    base_url: str
    deadline_seconds: float = 45.0
    seen: Counter = attrs.field(factory=Counter)

    async def answered(self, path: str, *, json_body: Any = None, data: bytes | None = None,
                       headers: dict | None = None) -> Answer:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.deadline_seconds
        last: object = None
        while loop.time() < deadline:
            try:
                answer = await post_once(self.http, self.base_url + path, json_body=json_body, data=data,
                                         headers=headers)
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:  # its worker died: send it again
                self.seen["connection_error"] += 1
                last = error
                await asyncio.sleep(0.05)
                continue
            if answer.status == 409 and answer.code == IN_PROGRESS:
                self.seen["in_progress"] += 1
                last = answer
                await asyncio.sleep(0.25)
                continue
            if answer.status >= 500 and not answer.replayed:
                self.seen["5xx"] += 1
                last = answer
                await asyncio.sleep(0.1)
                continue
            self.seen[answer.status] += 1
            return answer
        raise AssertionError(f"POST {path} got no answer within {self.deadline_seconds} s; last: {last!r}")
