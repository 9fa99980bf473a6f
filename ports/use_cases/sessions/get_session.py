"""Read one payment session of the caller's (polled while the payer scans, so one cheap read)."""
from __future__ import annotations

import attrs

from domain.errors import SessionNotFoundError
from ports.clock import Clock
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.views import SessionView


@attrs.frozen
class GetSessionQuery:
    user_id: str
    session_id: str


@attrs.define
class GetSession:
    _uow: UnitOfWorkFactory
    _clock: Clock

    async def __call__(self, query: GetSessionQuery) -> SessionView:
        async with self._uow(read_only=True) as uow:
            session = await uow.sessions.get(query.session_id, user_id=query.user_id)
        if session is None:
            raise SessionNotFoundError(query.session_id)
        return SessionView.of(session, self._clock.now())
