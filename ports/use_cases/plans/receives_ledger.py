"""The caller's receives ledger, newest first, by page or after a cursor: every change of their
balance with the balance right after it, so the sum of the deltas is the balance the membership
shows.

Like `GetMembership`, a membership whose period has ended is rolled forward first (its allowance
expiry and the new grant are entries too); a user with no membership has no ledger, and reading
it writes nothing.
"""
from __future__ import annotations

import attrs

from ports.clock import Clock
from ports.queries import PaymentQueries
from ports.unit_of_work import UnitOfWorkFactory
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import (
    MAX_LIMIT,
    CursorPage,
    LedgerLineView,
    Page,
    bounded,
    checked_cursor,
    unknown_cursor,
)


@attrs.frozen
class ReceivesLedgerQuery:
    """`page` None means the first; with `starting_after` (a line id) it must stay None."""

    user_id: str
    page: int | None = None
    limit: int = 20
    starting_after: str | None = None


@attrs.define
class ReceivesLedger:
    _queries: PaymentQueries
    _uow: UnitOfWorkFactory
    _clock: Clock
    _settings: UseCaseSettings

    async def __call__(self, query: ReceivesLedgerQuery) -> Page | CursorPage:
        cursor = checked_cursor(query.starting_after, query.page)
        page = bounded(1 if query.page is None else query.page, "page", 1, None)
        limit = bounded(query.limit, "limit", 1, MAX_LIMIT)
        await self._roll_forward(query.user_id)
        if cursor is not None:
            found = await self._queries.ledger_after(query.user_id, cursor, limit)
            if found is None:
                raise unknown_cursor()
            lines, has_more = found
            return CursorPage([LedgerLineView.of(line) for line in lines], has_more)
        lines, total = await self._queries.ledger_page(query.user_id, page, limit)
        return Page([LedgerLineView.of(line) for line in lines], page, limit, total)

    async def _roll_forward(self, user_id: str) -> None:
        """Bring a stored membership to the current period (as reading it would), never create one."""
        now = self._clock.now()
        existing = await self._queries.membership(user_id)
        if existing is None or existing.is_current_at(now):
            return
        async with self._uow() as uow:
            await current_membership(uow, user_id, self._settings.catalog, now, policy=self._settings.renewal)
            await uow.commit()
