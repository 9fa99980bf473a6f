"""Test builders: short ways to bring a `World` into a state through its use cases (buy, upgrade,
pay), to read its end state back, and to forge provider notifications signed with the mock's key."""
from __future__ import annotations

import json
import secrets

from domain.ledger import Balance, LedgerKind
from domain.session import PaymentSession
from ports.use_cases.plans.change_plan import ChangePlanCommand
from ports.use_cases.sessions.get_session import GetSessionQuery
from ports.use_cases.payments.get_transaction import GetTransactionQuery, TransactionDetail
from ports.use_cases.payments.list_transactions import ListTransactionsQuery
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from ports.use_cases.sessions.provider_orders import RetryPolicy
from ports.use_cases.views import PaymentView, SessionView
from world import World

OPEN_ATTEMPTS = RetryPolicy().attempts  # how often an unanswered provider order is asked for


async def buy(world: World, user: str = "alice", quantity: int = 10, method: str = "wechat_pay",
              return_url: str | None = None) -> PaymentView:
    """Start a purchase of `quantity` receives (pending until paid)."""
    return await world.purchase_receives(PurchaseReceivesCommand(user, quantity, method, return_url))


async def buy_and_pay(world: World, user: str = "alice", quantity: int = 10) -> PaymentView:
    bought = await buy(world, user, quantity)
    result = await world.pay(bought.session)
    assert result.effect == "applied"
    return bought


async def upgrade(world: World, user: str, plan: str, method: str = "alipay"):
    return await world.change_plan(ChangePlanCommand(user, plan, method))


async def become(world: World, user: str, plan: str) -> None:
    """Move `user` to the paid `plan` by upgrading and paying now."""
    started = await upgrade(world, user, plan)
    assert (await world.pay(started.session)).effect == "applied"
    assert (await world.membership(user)).plan == plan


async def detail(world: World, user: str, transaction_id: str) -> TransactionDetail:
    return await world.get_transaction(GetTransactionQuery(user, transaction_id))


async def session(world: World, user: str, session_id: str) -> SessionView:
    return await world.get_session(GetSessionQuery(user, session_id))


async def all_transactions(world: World, user: str = "alice"):
    page = await world.list_transactions(ListTransactionsQuery(user, limit=100))
    return list(page.items)


def ledger_balance(world: World, user: str = "alice") -> Balance:
    """The balance as the sum of the user's committed ledger entries."""
    return Balance.of(e for e in world.store.ledger if e.user_id == user)


def purchase_entries(world: World, user: str = "alice") -> list:
    return [e for e in world.store.ledger if e.user_id == user and e.kind is LedgerKind.PURCHASE]


async def snapshot(world: World, user: str, transaction_id: str) -> tuple:
    """Everything a caller could read about one transaction and the user's receives."""
    return (await detail(world, user, transaction_id), await world.membership(user), tuple(world.store.ledger),
            dict(world.store.refunds))


def signed_notification(world: World, payload: dict, *, timestamp: int | None = None) -> tuple[dict, bytes]:
    """A notification body signed with the mock's own key (authentic, whatever it says)."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    t = int(world.clock.now().timestamp()) if timestamp is None else timestamp
    return {"Mock-Signature": world.mock.sign(body, t), "Content-Type": "application/json"}, body


def payment_payload(world: World, session: SessionView, **overrides) -> dict:
    """What the mock would send for `session` paid, with `overrides` applied."""
    payload = {"id": f"evt_{secrets.token_hex(12)}", "type": "payment.succeeded", "session_id": session.id,
               "order_id": session.order_id, "amount": session.amount.amount,
               "currency": session.amount.currency.code, "created": int(world.clock.now().timestamp())}
    payload.update(overrides)
    return payload


async def open_parallel_session(world: World, user: str, transaction_id: str,
                                method: str = "alipay") -> SessionView:
    """A second session left open next to an open one, as a race could once leave it (the
    transaction now replaces open sessions under its lock, so no use case does): stored, then its
    provider order opened."""
    now = world.clock.now()
    async with world.uow() as uow:
        transaction = await uow.transactions.get(transaction_id, user_id=user, for_update=True)
        assert transaction is not None
        parallel = PaymentSession.open(
            id=world.ids.new_id("ps"), transaction_id=transaction.id, user_id=user,
            order_id=world.ids.new_order_id("S", now), payment_method=method, provider="mock",
            amount=transaction.total, return_url=None, expires_at=now + world.settings.session_ttl, now=now)
        transaction.sessions.append(parallel)  # past the aggregate's rules, as a race could have done
        await uow.transactions.update(transaction)
        await uow.commit()
    opened = await world.orders.open(parallel, "parallel")
    return SessionView.of(opened, world.clock.now())
