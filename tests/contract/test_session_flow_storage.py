"""The contract of a payment session's `flow` in storage: the flow a session is opened with
(`qr_code`, `redirect`, `mobile_redirect`, or None for a session stored before flows were kept) is
stored with it and read back by every read of sessions (by transaction, by provider order id, the
reconciler's claim, the poll), and survives what later happens to the session (a replacement, its
instructions, its payment). On every backend."""
from __future__ import annotations

from contract_support import (
    HOUR,
    MINUTE,
    T0,
    Backend,
    a_transaction,
    load,
    new_id,
    new_order_id,
    state,
    store,
)
from domain.session import PaymentSession
from domain.transaction import Transaction

FLOWS = ("qr_code", "redirect", "mobile_redirect", None)


def open_with(transaction: Transaction, flow: str | None, *, at=None) -> PaymentSession:
    return transaction.open_session(
        id=new_id("ps"), order_id=new_order_id("S"), payment_method="alipay", provider="mock",
        return_url=None, ttl=HOUR, now=at or transaction.created_at, flow=flow).session


async def test_each_flow_is_stored_with_its_session_and_read_back_by_every_read(backend: Backend) -> None:
    stored = []
    for flow in FLOWS:
        t = a_transaction(new_id("user"))
        open_with(t, flow)
        stored.append(t)
    await store(backend, *stored)

    for t, flow in zip(stored, FLOWS):
        [session] = t.sessions
        assert [s.flow for s in (await load(backend, t.id)).sessions] == [flow]
        assert (await backend.queries.session(session.id)).flow == flow
        async with backend.uow() as uow:
            by_order = await uow.transactions.get_by_session_order_id(session.order_id)
            locked = await uow.transactions.get(t.id, user_id=t.user_id, for_update=True)
        assert [s.flow for s in by_order.sessions] == [s.flow for s in locked.sessions] == [flow]
        assert state(await load(backend, t.id)) == state(t)


async def test_the_reconcilers_claim_reads_each_sessions_flow(backend: Backend) -> None:
    t = a_transaction()
    open_with(t, "redirect")
    open_with(t, "mobile_redirect", at=T0 + MINUTE)  # replaces the first (cancelled; checked once more)
    await store(backend, t)

    async with backend.uow() as uow:
        [claimed] = await uow.transactions.claim_due_for_check(T0 + HOUR, 10)
        await uow.commit()

    assert [(s.status.value, s.flow) for s in claimed.sessions] == [("cancelled", "redirect"),
                                                                    ("open", "mobile_redirect")]


async def test_the_flow_survives_instructions_and_payment(backend: Backend) -> None:
    t = a_transaction()
    session = open_with(t, "mobile_redirect")
    await store(backend, t)

    session.attach_instructions("https://pay.example/1", None, "ref_1", T0 + MINUTE)
    assert await backend.instructions.attach(session) is True
    assert (await backend.queries.session(session.id)).flow == "mobile_redirect"

    async with backend.uow() as uow:
        held = await uow.transactions.get(t.id, for_update=True)
        held.confirm_payment(session.id, T0 + 2 * MINUTE)
        await uow.transactions.update(held)
        await uow.commit()

    paid = (await load(backend, t.id)).sessions[0]
    assert (paid.status.value, paid.flow, paid.payment_url) == ("completed", "mobile_redirect", "https://pay.example/1")


async def test_a_session_added_to_a_stored_transaction_keeps_its_own_flow(backend: Backend) -> None:
    t = a_transaction()
    open_with(t, "qr_code")
    await store(backend, t)

    async with backend.uow() as uow:
        held = await uow.transactions.get(t.id, for_update=True)
        open_with(held, "redirect", at=T0 + MINUTE)
        await uow.transactions.update(held)
        await uow.commit()

    assert [(s.status.value, s.flow) for s in (await load(backend, t.id)).sessions] == [
        ("cancelled", "qr_code"), ("open", "redirect")]
