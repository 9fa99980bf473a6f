"""Buy receives: price the quantity, create a pending transaction with its first payment session,
then open the provider order. The balance grows only when the provider confirms the payment.

With `saved_method_id` (a one-click purchase, docs/saved-methods.md) the first session is an
off-session charge of that saved method, charged at once (`ChargeOffSession`); with
`save_method` the method is kept when the payment succeeds."""
from __future__ import annotations

from datetime import datetime

import attrs

from domain.catalog import ReceivesQuote
from domain.errors import TooManyPendingError
from domain.risk import RiskSnapshot
from domain.session import PaymentSession
from domain.transaction import Transaction
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.payment_provider import ProviderRegistry
from ports.repositories import DuplicateKeyError
from ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from ports.use_cases.payments.request_ids import RequestIds
from ports.use_cases.plans.membership_access import current_membership
from ports.use_cases.sessions.flows import choose_flow
from ports.use_cases.sessions.provider_orders import ProviderOrders, order_lines
from ports.use_cases.risk.gate import RiskGate
from ports.use_cases.experiments.user_prices import UserCatalog, UserPrices, expose, prices_for
from ports.use_cases.sessions.saving import OneClickCharges, check_can_save
from ports.use_cases.settings import UseCaseSettings
from ports.use_cases.views import PaymentView, SessionView, TransactionView


@attrs.frozen
class PurchaseReceivesCommand:
    user_id: str
    quantity: int
    payment_method: str
    return_url: str | None = None
    request_key: str | None = None  # the client's Idempotency-Key: a retry resumes, never repeats
    flow: str | None = None  # qr_code | redirect | mobile_redirect; default the method's first
    save_method: bool = False  # keep the method when the payment succeeds (docs/saved-methods.md)
    saved_method_id: str | None = None  # a one-click purchase: charge this saved method (instead of payment_method)


@attrs.define
class PurchaseReceives:
    _uow: UnitOfWorkFactory
    _providers: ProviderRegistry
    _orders: ProviderOrders
    _clock: Clock
    _ids: IdGenerator
    _settings: UseCaseSettings
    _risk: RiskGate | None = None  # docs/risk.md: asked before a payment is opened
    _prices: UserPrices | None = None  # docs/experiments.md: the user's variant prices it (None: the catalog)
    _charges: OneClickCharges | None = None  # docs/saved-methods.md: one-click purchases

    async def __call__(self, cmd: PurchaseReceivesCommand) -> PaymentView:
        now = self._clock.now()
        # The prices and the risk gate's facts in one read (the gate decides once the amount is known).
        priced, risk_facts = await prices_and_risk(self._prices, self._risk, self._settings, cmd.user_id, now)
        catalog = priced.catalog
        quote = catalog.receives.quote(cmd.quantity)
        return_url = self._settings.check_return_url(cmd.return_url)
        saved = None
        if cmd.saved_method_id is not None and self._charges is not None:  # one-click: 404 before anything
            saved = await self._charges.resolve(cmd.user_id, cmd.saved_method_id)
            cmd = attrs.evolve(cmd, payment_method=saved[0].payment_method, save_method=False)
        provider = saved[1] if saved is not None else self._providers.for_method(cmd.payment_method)
        check_can_save(provider, cmd.payment_method, cmd.save_method)
        flow = choose_flow(provider, cmd.payment_method, cmd.flow)  # refused before anything is written
        self._orders.admit(provider.name)  # an open circuit refuses at once, before anything is written
        if self._risk is not None:  # 403 risk_declined, nothing written
            await self._risk.admit(cmd.user_id, quote.total.amount, now, snapshot=risk_facts)
        # The body is part of the seed: a key reused for another purchase makes new objects,
        # never the old ones (and so does the same purchase once the key was purged: RequestIds).
        # A flow asked for is part of it too (one left out keeps the seed requests had before flows).
        body = f"purchase_receives/{cmd.quantity}/{cmd.payment_method}/{cmd.return_url}"
        if cmd.save_method or cmd.saved_method_id:  # (left out when absent: the seeds requests had before)
            body += f"/save={cmd.save_method}/{cmd.saved_method_id}"
        ids = RequestIds.of(self._ids, cmd.user_id, body if cmd.flow is None else f"{body}/{cmd.flow}",
                            cmd.request_key)
        await expose(self._prices, priced)  # charged at the variant's prices: exposed to it
        async with self._uow() as uow:
            # Locking the membership serialises this user's purchases, so the pending limit holds
            # across processes.
            await current_membership(uow, cmd.user_id, catalog, now, policy=self._settings.renewal)
            while True:
                try:
                    transaction = await self._create(uow, cmd, ids, quote, provider.name, return_url, flow.value, now,
                                                     priced.price_variant)
                    break
                except DuplicateKeyError:
                    # Derived ids are taken when an earlier attempt of this request committed:
                    # finish that one instead (its ids conflict before the pending limit is looked
                    # at); ids taken by an earlier use of the key (purged since) are not ours.
                    earlier = await uow.transactions.get(ids.id("txn"), user_id=cmd.user_id) if ids.derived else None
                    if earlier is None:
                        raise
                    if ids.resumes(earlier.created_at, now):
                        transaction = earlier
                        break
                    ids = ids.next_generation()
        return await self._finish(transaction, transaction.sessions[0])

    async def _create(self, uow: UnitOfWork, cmd: PurchaseReceivesCommand, ids: RequestIds, quote: ReceivesQuote,
                      provider: str, return_url: str | None, flow: str, now: datetime,
                      price_variant: str | None = None) -> Transaction:
        transaction = Transaction.purchase_receives(
            id=ids.id("txn"), order_id=ids.order_id("P", now), user_id=cmd.user_id,
            quote=quote, payment_method=cmd.payment_method, provider=provider, now=now, price_variant=price_variant)
        transaction.open_session(id=ids.id("ps"), order_id=ids.order_id("S", now), payment_method=cmd.payment_method,
                                 provider=provider, return_url=return_url, ttl=self._settings.session_ttl, now=now,
                                 flow=flow, save_method=cmd.save_method, saved_method_id=cmd.saved_method_id)
        if await uow.transactions.add(transaction) >= self._settings.max_pending:
            raise TooManyPendingError(self._settings.max_pending)  # the unit of work rolls back
        await uow.commit()
        return transaction

    async def _finish(self, transaction: Transaction, session: PaymentSession) -> PaymentView:
        if session.off_session and self._charges is not None:  # one-click: charged now, or as it ended
            transaction, for_payer = await self._charges.one_click(transaction, session, session.return_url)
            now = self._clock.now()
            return PaymentView(TransactionView.of(transaction), SessionView.of(for_payer, now) if for_payer else None)
        if session.is_open_at(self._clock.now()) and session.payment_url is None and session.qr_code is None:
            session = await self._orders.open(session, transaction.description,  # the same order id again
                                              order_lines(transaction))
        return PaymentView(TransactionView.of(transaction), SessionView.of(session, self._clock.now()))


async def prices_and_risk(prices: UserPrices | None, risk: RiskGate | None, settings: UseCaseSettings, user_id: str,
                          now: datetime) -> tuple[UserCatalog, RiskSnapshot | None]:
    """The user's prices and, with a gate, what it reads to admit a payment at `now`
    (`RiskGate.admit(…, snapshot=)`): one statement on SQL where the two reads were two."""
    if risk is None:
        return await prices_for(prices, settings, user_id), None
    if prices is None:
        return UserCatalog(settings.catalog), None  # the gate reads when asked, as before
    snapshot, running = await risk.snapshot_and_running(prices.store, user_id, now)
    return prices.with_running(user_id, running), snapshot
