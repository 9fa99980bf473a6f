"""The contract of `ports.repositories.InstructionsRepository.attach`: the one write made outside
a unit of work. It stores a session's payment URL, QR payload, provider reference and
`updated_at` in one atomic statement, only while the session is stored `open` (whatever its
version), bumps the session's version (so a reader holding the old one cannot overwrite it), and
never overwrites what a unit of work holding the transaction is changing.
"""
from __future__ import annotations

import asyncio

import attrs

from contract_support import (
    MINUTE,
    T0,
    WAIT,
    Backend,
    a_purchase,
    load,
    not_finished_while_blocked,
    open_on,
    state,
    store,
)
from domain.session import PaymentSession, SessionStatus

INSTRUCTED_AT = T0 + MINUTE
INSTRUCTION_FIELDS = ("payment_url", "qr_code", "provider_reference", "updated_at", "version")


def instructed(session: PaymentSession, n: int = 1) -> PaymentSession:
    """A copy of `session` as the provider answered for it."""
    copy = attrs.evolve(session, events=[])
    copy.attach_instructions(f"https://pay.example/{n}", f"weixin://pay/{n}", f"ref_{n}", INSTRUCTED_AT)
    return copy


def without_instructions(session: PaymentSession) -> dict:
    return {k: v for k, v in state(session).items() if k not in INSTRUCTION_FIELDS}


async def test_instructions_are_attached_to_an_open_session_only(backend: Backend) -> None:
    t = a_purchase()
    ended = t.sessions[0]
    current = open_on(t, at=T0 + MINUTE)  # the first one is cancelled: replaced
    await store(backend, t)

    assert await backend.instructions.attach(instructed(current)) is True
    assert await backend.instructions.attach(instructed(ended)) is False

    # committed on its own: no unit of work around it
    stored_open = await backend.queries.session(current.id)
    stored_ended = await backend.queries.session(ended.id)
    assert (stored_open.payment_url, stored_open.qr_code, stored_open.provider_reference, stored_open.updated_at) == (
        "https://pay.example/1", "weixin://pay/1", "ref_1", INSTRUCTED_AT)
    assert stored_open.version == current.version + 1  # a reader holding the old version cannot overwrite it
    assert without_instructions(stored_open) == without_instructions(current)  # nothing else is written
    assert state(stored_ended) == state(ended)
    stored = await load(backend, t.id)
    assert (stored.version, stored.updated_at) == (t.version, t.updated_at)  # the transaction is not touched


async def test_attach_writes_only_the_instructions_of_the_session_it_is_given(backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    await store(backend, t)
    altered = instructed(session)
    altered.next_check_at, altered.return_url, altered.expires_at = None, "http://localhost/else", T0
    assert await backend.instructions.attach(altered)
    stored = await backend.queries.session(session.id)
    assert without_instructions(stored) == without_instructions(session)
    assert stored.status is SessionStatus.OPEN


async def test_attach_stores_whatever_the_version_of_the_session_it_is_given(backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    await store(backend, t)
    read_before = instructed(session)  # as `ProviderOrders.open` holds it while the provider answers
    now = session.next_check_at
    async with backend.uow() as uow:  # meanwhile, the reconciler moves the session on (still open)
        loaded = await uow.transactions.get(t.id, for_update=True)
        assert loaded.take_due_checks(now)
        await uow.transactions.update(loaded)
        await uow.commit()
    moved_on = (await load(backend, t.id)).sessions[0]
    assert moved_on.version == 1

    assert await backend.instructions.attach(read_before) is True
    stored = await backend.queries.session(session.id)
    assert (stored.payment_url, stored.version) == ("https://pay.example/1", 2)
    assert stored.next_check_at == moved_on.next_check_at  # the reconciler's change is kept


async def test_attach_to_a_session_that_is_not_stored_stores_nothing(backend: Backend) -> None:
    stored, never_stored = a_purchase(), a_purchase()
    await store(backend, stored)
    stranger = attrs.evolve(never_stored.sessions[0], transaction_id=stored.id)  # not one of its sessions
    assert await backend.instructions.attach(instructed(never_stored.sessions[0])) is False
    assert await backend.instructions.attach(instructed(stranger)) is False
    assert await backend.queries.session(never_stored.sessions[0].id) is None
    assert state(await load(backend, stored.id)) == state(stored)


async def test_attach_waits_for_a_unit_of_work_holding_the_transaction_and_never_overwrites_it(
        backend: Backend) -> None:
    t = a_purchase()
    session = t.sessions[0]
    await store(backend, t)
    async with backend.uow() as uow:
        loaded = await uow.transactions.get(t.id, for_update=True)  # as a notification handler does
        attaching = asyncio.create_task(backend.instructions.attach(instructed(session)))
        assert await not_finished_while_blocked(attaching)
        assert loaded.end_attempt(session.id, closed=False, reason="declined", now=T0 + 2 * MINUTE)
        await uow.transactions.update(loaded)  # would raise ConcurrentUpdateError had attach gone first
        await uow.commit()
    assert await asyncio.wait_for(attaching, WAIT) is False  # it found the session ended
    stored = await backend.queries.session(session.id)
    assert (stored.status, stored.payment_url, stored.version) == (SessionStatus.FAILED, None, 1)
