"""Checks of `acknowledge`: the answer to each outcome (ACCEPTED 2xx, REJECTED 401, RETRY 5xx),
and that aiohttp serves it as given, the way the service's webhook endpoint does: status, body and
the `Content-Type` header verbatim (`web.Response(status=, body=, headers={"Content-Type": …})`)."""
from __future__ import annotations

import re

from plugins.conformance.base import Checks
from plugins.conformance.harness import Harness
from ports.payment_provider import Acknowledgement, NotificationOutcome

# RFC 9110 media type: type "/" subtype *( OWS ";" OWS parameter ), parameter = token "=" ( token / quoted-string )
_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_MEDIA_TYPE = re.compile(rf"{_TOKEN}/{_TOKEN}(?:[ \t]*;[ \t]*{_TOKEN}=(?:{_TOKEN}|\"(?:[^\"\\\r\n]|\\.)*\"))*")
_NO_BODY = (204, 304)


class AcknowledgementChecks(Checks):
    async def test_acknowledging_an_accepted_notification_is_a_2xx(self, harness: Harness) -> None:
        ack = self._acknowledgement(harness, NotificationOutcome.ACCEPTED)

        assert 200 <= ack.status < 300, f"ACCEPTED must be acknowledged with a 2xx, not {ack.status}"

    async def test_acknowledging_a_rejected_notification_is_a_401(self, harness: Harness) -> None:
        ack = self._acknowledgement(harness, NotificationOutcome.REJECTED)

        assert ack.status == 401, f"a refused signature is answered 401 (the contract), not {ack.status}"

    async def test_acknowledging_a_notification_to_retry_is_a_5xx_so_the_provider_resends(
            self, harness: Harness) -> None:
        ack = self._acknowledgement(harness, NotificationOutcome.RETRY)

        assert 500 <= ack.status < 600, f"RETRY must be a 5xx (the provider re-delivers), not {ack.status}"

    async def test_every_acknowledgement_has_a_valid_content_type_and_aiohttp_serves_it_as_given(
            self, harness: Harness) -> None:
        from aiohttp import web
        from aiohttp.test_utils import TestClient, TestServer

        acks = {outcome: self._acknowledgement(harness, outcome) for outcome in NotificationOutcome}
        for outcome, ack in acks.items():
            assert _MEDIA_TYPE.fullmatch(ack.content_type), \
                f"{outcome.name}: {ack.content_type!r} is not a Content-Type (type/subtype; name=value …)"
            assert ack.status not in _NO_BODY or not ack.body, f"{outcome.name}: HTTP {ack.status} has no body"

        async def answer(request: web.Request) -> web.Response:
            ack = acks[NotificationOutcome(request.match_info["outcome"])]
            return web.Response(status=ack.status, body=ack.body, headers={"Content-Type": ack.content_type})

        app = web.Application()
        app.router.add_post("/{outcome}", answer)
        async with TestClient(TestServer(app)) as client:
            for outcome, ack in acks.items():
                response = await client.post(f"/{outcome.value}", data=b"{}")
                served = (response.status, response.headers.get("Content-Type"), await response.read())
                assert served == (ack.status, ack.content_type if ack.status not in _NO_BODY else served[1], ack.body), \
                    f"{outcome.name}: aiohttp served {served}, the plugin answered {(ack.status, ack.content_type, ack.body)}"

    @staticmethod
    def _acknowledgement(h: Harness, outcome: NotificationOutcome) -> Acknowledgement:
        ack = h.provider.acknowledge(outcome)
        assert isinstance(ack, Acknowledgement), f"acknowledge({outcome.name}) must return an Acknowledgement: {ack!r}"
        assert type(ack.status) is int and isinstance(ack.content_type, str) and ack.content_type \
            and isinstance(ack.body, bytes), ack
        return ack
