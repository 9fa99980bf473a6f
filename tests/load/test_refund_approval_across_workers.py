"""Refunds with admin approval across processes: `payments serve --workers 4` on a fresh
PostgreSQL database, the mock provider's refunds failing (`unavailable`), so every refund call the
service makes leaves one line in the server's log ("refund … not accepted by mock yet"); a
follow-up asks the provider (which never received the refund) and sends it again, one such line.

1. Two admins approving the same refund at the same instant: one answers 200 `processing`, the
   other 409 `invalid_state`, and the provider is asked to refund once.
2. The follow-up job of processing refunds runs in all 4 workers (woken at once by the test
   clock): each follow-up step is claimed by one worker (`FOR UPDATE SKIP LOCKED`), so the
   refund is sent again once per step, the steps backing off (1, then 2 minutes).
"""
from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio
from live import eventually, serve_process
from load_support import (
    RECEIVES,
    post_once,
    raise_open_files_limit,
    signed_notification,
    worker_pids,
)

pytestmark = [pytest.mark.postgres, pytest.mark.asyncio(loop_scope="module")]

WORKERS = 4
MOCK_SECRET = secrets.token_hex(16)
REFUNDS = "/api/v1/payments/refunds"
ADMIN = "/api/v1/admin/refunds"
CLOCK = "/api/v1/internal/clock"


class Server:
    def __init__(self, service, workdir: Path) -> None:
        self.service, self.workdir = service, workdir

    def url(self, path: str) -> str:
        return self.service.url(path)

    def auth(self, user: str, role: str | None = None) -> dict:
        return {"Authorization": f"Bearer {self.service.token(user, role)}"}

    def log_lines(self, *needles: str) -> list[str]:
        text = (self.workdir / "server.log").read_text(errors="replace")
        return [line for line in text.splitlines() if all(needle in line for needle in needles)]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def server(postgres_database_factory, tmp_path_factory):
    raise_open_files_limit()
    workdir = tmp_path_factory.mktemp("refund-workers")
    async with aiohttp.ClientSession() as http, \
            serve_process(http, workdir, workers=WORKERS, PAYMENTS_DATABASE_URL=postgres_database_factory("refunds"),
                          PAYMENTS_JWT_SECRET=secrets.token_urlsafe(32), PAYMENTS_MOCK_WEBHOOK_SECRET=MOCK_SECRET,
                          PAYMENTS_MOCK_FAULTS="refund=unavailable:1.0") as service:
        await eventually(lambda: _workers(service, workdir), lambda pids: len(pids) == WORKERS, timeout=30,
                         what="every worker to start")
        yield Server(service, workdir)


async def _workers(service, workdir: Path) -> set[int]:
    return worker_pids(service.process.pid, workdir / "server.log")


async def requested_refund(server: Server, http: aiohttp.ClientSession) -> dict:
    """A user buys 10 receives, pays (the mock's signed notification) and asks for a refund of 4."""
    user = f"payer-{secrets.token_hex(4)}"
    bought = await post_once(http, server.url(RECEIVES), json_body={"amount": 10, "payment_method": "mock"},
                             headers=server.auth(user))
    assert bought.status == 201, bought
    body, headers = signed_notification(MOCK_SECRET, bought.json()["session"])
    paid = await post_once(http, server.url("/api/v1/payments/webhooks/mock"), data=body, headers=headers)
    assert paid.status == 200, paid
    asked = await post_once(http, server.url(REFUNDS), headers=server.auth(user), json_body={
        "transaction_id": bought.json()["transaction"]["id"], "reason": "bought by mistake", "receives": 4})
    assert asked.status == 201, asked
    return asked.json()


async def test_two_admins_approving_at_once_make_one_provider_refund(server):
    async with aiohttp.ClientSession() as http:
        refund = await requested_refund(server, http)

        answers = await asyncio.gather(*(
            post_once(http, server.url(f"{ADMIN}/{refund['id']}/approve"), json_body={"note": admin},
                      headers=server.auth(admin, "admin")) for admin in ("admin-a", "admin-b")))

    assert sorted(a.status for a in answers) == [200, 409], answers
    conflict = next(a for a in answers if a.status == 409)
    assert conflict.json()["error"]["code"] == "invalid_state"
    approved = next(a for a in answers if a.status == 200).json()
    assert approved["status"] == "processing"
    sent = await eventually(lambda: _lines(server, "not accepted by mock yet", refund["id"]), lambda n: n >= 1,
                            timeout=10, what="the provider to be asked for the refund")
    assert sent == 1


async def _lines(server: Server, *needles: str) -> int:
    return len(server.log_lines(*needles))


async def test_the_follow_up_job_in_four_workers_calls_the_provider_once_per_step(server):
    async with aiohttp.ClientSession() as http:
        refund = await requested_refund(server, http)
        approved = await post_once(http, server.url(f"{ADMIN}/{refund['id']}/approve"), json_body={},
                                   headers=server.auth("admin-a", "admin"))
        assert approved.status == 200, approved
        asked = ("not accepted by mock yet", refund["id"])
        await eventually(lambda: _lines(server, *asked), lambda n: n >= 1, timeout=10, what="the first send")

        for step, advance in enumerate((61, 121), start=1):  # due 1 minute after sending, then 2 more
            moved = await post_once(http, server.url(CLOCK), json_body={"advance_seconds": advance},
                                    headers=server.auth("backend", "service"))
            assert moved.status == 200, moved
            await eventually(lambda: _lines(server, *asked), lambda n, step=step: n >= 1 + step, timeout=20,
                             what=f"follow-up step {step}")
            # Every worker's job was woken; give the other three the time to (wrongly) send it too.
            await asyncio.sleep(3)
            assert await _lines(server, *asked) == 1 + step

        listed = await post_once(http, server.url(f"{ADMIN}/{refund['id']}/retry"), json_body=None,
                                 headers=server.auth("admin-a", "admin"))
        assert listed.status == 409 and listed.json()["error"]["code"] == "invalid_state"  # still processing
