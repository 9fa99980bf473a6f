"""The events' HTTP sender (`adapters/webhook_sender.py`) against a real local receiver: a 2xx is
delivery and the signature verifies with the reference library; any other answer, a redirect (not
followed), a refused connection and a timeout are failed attempts named by status or type."""
from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

from aiohttp import web
from events_receiver import event_receiver, new_secret
from live import free_port

from adapters.clock import SystemClock
from adapters.webhook_sender import StandardWebhookSender
from domain.outbox import OutboxEvent, OutboxStatus

T0 = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def an_event(n: int = 1) -> OutboxEvent:
    body = json.dumps({"id": f"evt_{n}", "type": "transaction.succeeded", "timestamp": "2026-12-05T08:00:00Z",
                       "data": {"user_id": "alice"}})
    return OutboxEvent(id=f"evt_{n}", user_id="alice", type="transaction.succeeded", body=body,
                       status=OutboxStatus.PENDING, attempts=0, created_at=T0, next_attempt_at=T0,
                       give_up_at=T0 + timedelta(hours=72))


async def test_a_2xx_is_delivery_signed_for_the_reference_library_over_one_connection():
    async with event_receiver() as receiver:
        sender = StandardWebhookSender(receiver.url, receiver.secret, timeout=5, clock=SystemClock())
        try:
            assert await sender.send(an_event(1)) is None
            assert await sender.send(an_event(2)) is None
        finally:
            await sender.aclose()
    assert [d.webhook_id for d in receiver.accepted] == ["evt_1", "evt_2"] and receiver.refused == 0
    assert receiver.accepted[0].body == an_event(1).body.encode()


async def test_another_status_is_a_failed_attempt():
    async with event_receiver() as receiver:
        receiver.fail = 1
        sender = StandardWebhookSender(receiver.url, receiver.secret, timeout=5, clock=SystemClock())
        try:
            assert await sender.send(an_event()) == "HTTP 503"
        finally:
            await sender.aclose()


async def test_a_redirect_is_not_followed_and_a_refused_connection_or_a_timeout_fails():
    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound("/elsewhere")

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/redirect", redirect)
    app.router.add_post("/hang", hang)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    secret = new_secret()
    try:
        for path, timeout, expected in (("redirect", 5, "HTTP 302"), ("hang", 0.3, "timeout")):
            sender = StandardWebhookSender(f"http://127.0.0.1:{port}/{path}", secret, timeout=timeout,
                                           clock=SystemClock())
            try:
                assert await sender.send(an_event()) == expected
            finally:
                await sender.aclose()
    finally:
        await runner.cleanup()
    sender = StandardWebhookSender(f"http://127.0.0.1:{free_port()}/events", secret, timeout=5, clock=SystemClock())
    try:
        assert (await sender.send(an_event())).startswith("transport error: ")
    finally:
        await sender.aclose()
