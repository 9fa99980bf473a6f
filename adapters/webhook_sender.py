"""POSTing an event to the main backend in the Standard Webhooks format (`ports.outbox.EventSender`).

Headers: `webhook-id` (the event's id, the same on every attempt), `webhook-timestamp` (this
attempt's time, real time in Unix seconds: receivers refuse a timestamp more than 5 minutes
off) and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, keyed with
the base64 secret of `PAYMENTS_EVENTS_SECRET` = `whsec_<base64>`), made by the maintained
reference implementation (the `standardwebhooks` package) so a receiver using it (or any other
implementation of the scheme) verifies them. Any 2xx answer is delivery; anything else, a
timeout or a refused connection is a failed attempt.

The POST goes through aiohttp's client (the server's own library, already loaded), one
keep-alive session per process made on the first send: per event it costs about a third of
what httpx did (httpx with httpcore and anyio was a fifth of a worker's CPU in a flow with the
outbox on, docs/benchmarks.md). `standardwebhooks` is imported when the first sender is made: a
process that sends no events (no `PAYMENTS_EVENTS_URL`) never pays for it. The secret is kept in a `repr=False`
field and never logged; error strings name the status or the exception's type only.
"""
from __future__ import annotations

import aiohttp

from domain.outbox import OutboxEvent
from ports.clock import Clock

USER_AGENT = "membership-payments-events/1"


class StandardWebhookSender:
    def __init__(self, url: str, secret: str, *, timeout: float, clock: Clock) -> None:
        from standardwebhooks.webhooks import Webhook

        self._url = url
        self._signer = Webhook(secret)
        self._clock = clock  # real time: receivers compare webhook-timestamp with their clock
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._http: aiohttp.ClientSession | None = None  # made in the running loop, on the first send

    def __repr__(self) -> str:
        return f"StandardWebhookSender({self._url!r})"

    def headers(self, event: OutboxEvent) -> dict[str, str]:
        moment = self._clock.now()
        return {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": event.id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": self._signer.sign(event.id, moment, event.body),
        }

    async def send(self, event: OutboxEvent) -> str | None:
        if self._http is None:
            self._http = aiohttp.ClientSession(timeout=self._timeout, auto_decompress=False,
                                               skip_auto_headers=("Accept-Encoding",))
        try:
            async with self._http.post(self._url, data=event.body.encode(), headers=self.headers(event),
                                       allow_redirects=False) as response:
                await response.read()  # the answer is not used, but read: the connection is kept alive
                status = response.status
        except TimeoutError:
            return "timeout"
        except aiohttp.ClientError as error:
            return f"transport error: {type(error).__name__}"
        if 200 <= status < 300:
            return None
        return f"HTTP {status}"

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()


class NoSender:
    """Stands in when `PAYMENTS_EVENTS_URL` is not set (nothing is written, so nothing is sent)."""

    async def send(self, event: OutboxEvent) -> str | None:
        return "PAYMENTS_EVENTS_URL is not set"

    async def aclose(self) -> None:
        pass
