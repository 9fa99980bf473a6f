"""Events from a real `payments serve` process on SQLite (the default database): a consumption of
receives through the API is delivered, signed, to a real local receiver verifying it with the
reference library (SQLite's outbox, its claim under the one writer, the in-process wake-up); the
events secret appears nowhere in the server's output."""
from __future__ import annotations

import aiohttp

from events_receiver import event_receiver
from live import eventually, serve_process

CONSUME = "/api/v1/internal/receives/consume"


async def test_a_served_sqlite_service_delivers_its_events(tmp_path):
    async with event_receiver() as receiver, aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, PAYMENTS_EVENTS_URL=receiver.url,
                                 PAYMENTS_EVENTS_SECRET=receiver.secret) as service:
            headers = {"Authorization": f"Bearer {service.token('backend', 'service')}"}
            for n in (1, 2):
                async with http.post(service.url(CONSUME), json={"user_id": "sam", "count": 1, "reference": f"r{n}"},
                                     headers=headers) as response:
                    assert response.status == 200, await response.text()

            async def events() -> list[dict]:
                return receiver.events_of("sam")
            seen = await eventually(events, lambda found: len(found) == 2, timeout=10, what="both events of sam")
            assert [e["data"]["receives"]["balance"] for e in seen] == [2, 1]
            assert [e["type"] for e in seen] == ["membership.updated"] * 2
            assert receiver.refused == 0
            admin = {"Authorization": f"Bearer {service.token('ops', 'admin')}"}

            async def delivered() -> dict:  # settled once the dispatcher read the receiver's answer
                async with http.get(service.url("/api/v1/admin/events"), params={"status": "delivered"},
                                    headers=admin) as response:
                    return await response.json()
            listed = await eventually(delivered, lambda page: page["total"] == 2, timeout=10, what="both delivered")
            assert [e["id"] for e in listed["items"]] == [e["id"] for e in seen[::-1]]
    output = (tmp_path / "server.log").read_text()
    assert receiver.secret not in output and receiver.secret.removeprefix("whsec_") not in output
