"""An admin's look at one user, and every user's transactions with filters.

The user's membership is read as of now without storing anything (a user never seen reads as a
new `basic` membership; nothing is created by looking). Its risk flags are the newest 100
(docs/risk.md); saved methods do not exist yet: an empty list until that feature lands.
"""
from __future__ import annotations

import copy

import attrs

from domain.membership import Membership
from domain.risk import RiskFlag
from ports.use_cases.saved_methods.manage_saved_methods import ListSavedMethods
from ports.use_cases.saved_methods.views import SavedMethodView
from ports.clock import Clock
from ports.operations import AdminTransactionQuery, OperationsQueries
from ports.queries import PaymentQueries, TransactionQuery
from ports.refund_queries import RefundQueries, RefundQuery
from ports.risk import RiskStore
from ports.use_cases.refunds.refund_views import RefundView
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import MembershipView, Page, TransactionView

LATEST_TRANSACTIONS = 20
REFUNDS_SHOWN = 100
RISK_FLAGS_SHOWN = 100


@attrs.frozen
class UserOverview:
    user_id: str
    membership: MembershipView
    transactions: tuple[TransactionView, ...]
    refunds: tuple[RefundView, ...]
    saved_methods: tuple[SavedMethodView, ...] = ()  # not deleted, newest first (docs/saved-methods.md)
    risk_flags: tuple[RiskFlag, ...] = ()  # the user's risk flags, newest first (docs/risk.md)


@attrs.define
class GetUserOverview:
    _queries: PaymentQueries
    _refund_queries: RefundQueries
    _clock: Clock
    _settings: UseCaseSettings
    _risk: RiskStore | None = None
    _saved: ListSavedMethods | None = None  # docs/saved-methods.md

    async def __call__(self, user_id: str) -> UserOverview:
        now = self._clock.now()
        catalog = self._settings.catalog
        stored = await self._queries.membership(user_id)
        membership = copy.deepcopy(stored) if stored is not None else Membership.start(user_id, catalog.free_plan, now)
        membership.roll_forward(now, catalog, self._settings.renewal)  # a copy: read as of now, nothing stored
        transactions, _ = await self._queries.history(user_id, TransactionQuery(limit=LATEST_TRANSACTIONS, as_of=now))
        refunds, _ = await self._refund_queries.refunds(RefundQuery(user_id=user_id, limit=REFUNDS_SHOWN))
        flags = (await self._risk.flags(user_id=user_id, limit=RISK_FLAGS_SHOWN))[0] if self._risk is not None else ()
        return UserOverview(user_id, MembershipView.of(membership), tuple(TransactionView.of(t) for t in transactions),
                            tuple(RefundView.of(r) for r in refunds), risk_flags=tuple(flags),
                            saved_methods=tuple(await self._saved(user_id)) if self._saved is not None else ())


@attrs.define
class ListAllTransactions:
    _operations: OperationsQueries
    _clock: Clock

    async def __call__(self, query: AdminTransactionQuery) -> Page:
        found, total = await self._operations.transactions(attrs.evolve(query, as_of=self._clock.now()))
        return Page(tuple(TransactionView.of(t) for t in found), query.page, query.limit, total)
