"""Read one payment session of the caller's (polled while the payer scans, so one cheap read)."""
from __future__ import annotations

import attrs

from domain.errors import SessionNotFoundError
from ports.clock import Clock
from ports.queries import PaymentQueries
from ports.use_cases.views import SessionView


@attrs.frozen
class GetSessionQuery:
    user_id: str
    session_id: str


@attrs.define
class GetSession:
    _queries: PaymentQueries
    _clock: Clock

    async def __call__(self, query: GetSessionQuery) -> SessionView:
        session = await self._queries.session(query.session_id, user_id=query.user_id)
        if session is None:
            raise SessionNotFoundError(query.session_id)
        return SessionView.of(session, self._clock.now())
