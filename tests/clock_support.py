"""The test clock from a test's side: move a running service's business time forward through
`POST /api/v1/internal/clock` as the main backend would (role `service`), instead of waiting in
real time for what falls due (the reconciler's first query a minute after a session opened, an
expiry, a renewal). The process that answers sees the move at once and wakes its jobs; every other
process within a second (docs/test-clock.md)."""
from __future__ import annotations

from datetime import datetime

CLOCK = "/api/v1/internal/clock"


async def advance_clock(service, seconds: int) -> datetime:
    """Move `service` (a `live.Service`) `seconds` ahead; its new business time."""
    headers = {"Authorization": f"Bearer {service.token('test-clock', 'service')}"}
    async with service.http.post(service.url(CLOCK), json={"advance_seconds": seconds}, headers=headers) as response:
        body = await response.json()
        assert response.status == 200, (response.status, body)
    return datetime.fromisoformat(body["now"].replace("Z", "+00:00"))
