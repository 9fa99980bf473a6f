"""A real local receiver of the service's events (docs/events.md), as the main backend would run
one: an aiohttp server on 127.0.0.1 that verifies every delivery with the reference Standard
Webhooks library (`standardwebhooks.Webhook.verify`) and records it.

    async with event_receiver(secret) as receiver:          # receiver.url → PAYMENTS_EVENTS_URL
        ...
        await receiver.wait_for(lambda r: r.types_of("alice") == [...])

`fail` answers the next deliveries with 503 (a receiver that is down), `fail_share` a share of
them at random; `slow` holds every answer that long; `hang` holds the next deliveries until
`release` is set (their senders may be killed meanwhile: such a delivery is never recorded). A delivery whose signature does not verify is answered 400 and counted in `refused`.
"""
from __future__ import annotations

import asyncio
import base64
import json
import random
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import attrs
from aiohttp import web
from standardwebhooks import Webhook, WebhookVerificationError

from live import eventually, free_port


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@attrs.frozen
class Delivery:
    webhook_id: str
    timestamp: str
    signature: str
    body: bytes
    event: dict
    answered: int

    @property
    def user_id(self) -> str:
        return self.event["data"]["user_id"]


@attrs.define
class Receiver:
    secret: str
    url: str = ""
    deliveries: list[Delivery] = attrs.field(factory=list)  # every one, in arrival order (failed ones too)
    refused: int = 0
    fail: int = 0          # answer the next `fail` deliveries with 503
    fail_share: float = 0.0  # and this share of the others, at random
    slow: float = 0.0
    hang: int = 0          # hold the next `hang` deliveries until `release` is set (never answered if
    release: asyncio.Event = attrs.field(factory=asyncio.Event)  # … their sender dies meanwhile)
    hung: list[tuple[str, int]] = attrs.field(factory=list)  # (webhook-id, the sender's port) of each held one
    arrived: asyncio.Event = attrs.field(factory=asyncio.Event)
    rng: random.Random = attrs.field(factory=lambda: random.Random(7))
    on_arrival: Callable[[str], None] | None = None  # called with the webhook-id as a delivery arrives


    async def handle(self, request: web.Request) -> web.Response:
        if self.on_arrival is not None:
            self.on_arrival(request.headers.get("webhook-id", ""))
        body = await request.read()
        try:
            event = Webhook(self.secret).verify(body, dict(request.headers))
        except WebhookVerificationError:
            self.refused += 1
            return web.json_response({"error": "bad signature"}, status=400)
        if self.hang > 0:
            self.hang -= 1
            self.hung.append((request.headers["webhook-id"], request.transport.get_extra_info("peername")[1]))
            await self.release.wait()
            return web.Response(status=204)  # too late: nobody reads it (not recorded as accepted)
        if self.slow:
            await asyncio.sleep(self.slow)
        status = 204
        if self.fail > 0:
            self.fail -= 1
            status = 503
        elif self.fail_share and self.rng.random() < self.fail_share:
            status = 503
        self.deliveries.append(Delivery(request.headers["webhook-id"], request.headers["webhook-timestamp"],
                                        request.headers["webhook-signature"], body, event, status))
        self.arrived.set()
        return web.Response(status=status)

    @property
    def accepted(self) -> list[Delivery]:
        return [d for d in self.deliveries if d.answered < 300]

    def events_of(self, user_id: str) -> list[dict]:
        """The events of a user accepted, in arrival order (a repeat included)."""
        return [d.event for d in self.accepted if d.user_id == user_id]

    def types_of(self, user_id: str) -> list[str]:
        return [e["type"] for e in self.events_of(user_id)]

    async def wait_for(self, condition: Callable[[Receiver], bool], *, timeout: float = 15,
                       what: str = "the deliveries") -> Receiver:
        async def probe() -> Receiver:
            return self
        return await eventually(probe, condition, timeout=timeout, what=what)


@asynccontextmanager
async def event_receiver(secret: str | None = None, port: int | None = None) -> AsyncIterator[Receiver]:
    receiver = Receiver(secret or new_secret())
    app = web.Application()
    app.router.add_post("/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = port or free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    receiver.url = f"http://127.0.0.1:{port}/events"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def parsed(delivery: Delivery) -> dict:
    return json.loads(delivery.body)
