"""Contract of saved-method storage (`SavedMethodRepository`, `ProviderCustomerRepository`, and the
sessions' saved-method columns) over memory, SQLite and PostgreSQL: a method round-trips field for
field; saving the same provider token again answers the stored method; listed newest first without
the deleted ones and nobody else's; one default per user (a second default is refused by the store,
and `set_default` moves it in one unit of work, rolled back with it); a customer is stored once
(the first writer wins); sessions keep `save_method`, `method_saved_at` and `saved_method_id`, and
the paid sessions whose method is still to be stored are found, newest first, until recorded."""
from __future__ import annotations

import pytest

from contract_support import MINUTE, T0, a_paid_purchase, a_purchase, load, new_id, new_order_id, state, store
from domain.saved_method import SavedMethod
from ports.repositories import DuplicateKeyError


def a_method(user: str = "alice", *, token: str | None = None, default: bool = False, at=T0) -> SavedMethod:
    return SavedMethod.save(id=new_id("spm"), user_id=user, provider="mock", payment_method="credit_card",
                            token=token or new_id("mock_pm"), label="Mock card •••• 4242", brand="visa",
                            last4="4242", exp_month=12, exp_year=2030, is_default=default, now=at)


async def add(backend, *methods: SavedMethod) -> list[SavedMethod]:
    async with backend.uow() as uow:
        stored = [await uow.saved_methods.add(m) for m in methods]
        await uow.commit()
    return stored


async def listed(backend, user: str = "alice") -> list[tuple[str, bool]]:
    async with backend.uow() as uow:
        return [(m.id, m.is_default) for m in await uow.saved_methods.list_for_user(user)]


async def test_a_method_round_trips_and_reads_only_for_its_owner(backend):
    method = a_method(default=True)
    await add(backend, method)

    async with backend.uow() as uow:
        found = await uow.saved_methods.get(method.id)
        mine = await uow.saved_methods.get(method.id, user_id="alice")
        theirs = await uow.saved_methods.get(method.id, user_id="bob")
        assert await uow.saved_methods.has_default("alice") and not await uow.saved_methods.has_default("bob")
    assert state(found) == state(method) == state(mine)
    assert theirs is None


async def test_the_same_token_saved_again_answers_the_stored_method(backend):
    first = a_method(token="mock_pm_same", default=True)
    await add(backend, first)

    (again,) = await add(backend, a_method(token="mock_pm_same"))

    assert again.id == first.id
    assert await listed(backend) == [(first.id, True)]


async def test_listed_newest_first_without_deleted_ones_or_anyone_elses(backend):
    old, new, deleted = a_method(default=True), a_method(at=T0 + MINUTE), a_method(at=T0 + 2 * MINUTE)
    await add(backend, old, new, deleted, a_method("bob", default=True))
    async with backend.uow() as uow:
        gone = await uow.saved_methods.get(deleted.id, for_update=True)
        gone.delete(T0 + 3 * MINUTE)
        await uow.saved_methods.update(gone)
        await uow.commit()

    assert await listed(backend) == [(new.id, False), (old.id, True)]
    async with backend.uow() as uow:
        assert (await uow.saved_methods.get(deleted.id)).deleted_at == T0 + 3 * MINUTE


async def test_a_second_default_is_refused_by_the_store(backend):
    await add(backend, a_method(default=True))

    with pytest.raises(DuplicateKeyError):
        await add(backend, a_method(default=True))
    assert len(await listed(backend)) == 1


async def test_set_default_moves_it_in_one_unit_of_work(backend):
    first, second = a_method(default=True), a_method(at=T0 + MINUTE)
    await add(backend, first, second)

    async with backend.uow() as uow:
        await uow.saved_methods.set_default("alice", second.id, T0 + 2 * MINUTE)
        await uow.rollback()
    assert dict(await listed(backend)) == {first.id: True, second.id: False}

    async with backend.uow() as uow:
        await uow.saved_methods.set_default("alice", second.id, T0 + 2 * MINUTE)
        await uow.commit()
    assert dict(await listed(backend)) == {first.id: False, second.id: True}


async def test_a_customer_is_stored_once_the_first_writer_wins(backend):
    async with backend.uow() as uow:
        assert await uow.provider_customers.get("alice", "mock") is None
        assert await uow.provider_customers.add("alice", "mock", "cus_1", T0) == "cus_1"
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.provider_customers.add("alice", "mock", "cus_2", T0) == "cus_1"
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.provider_customers.get("alice", "mock") == "cus_1"
        assert await uow.provider_customers.get("alice", "stripe") is None
        assert await uow.provider_customers.get("bob", "mock") is None


async def test_sessions_keep_their_saved_method_columns(backend):
    purchase = a_purchase()
    attempt = purchase.open_session(id=new_id("ps"), order_id=new_order_id("S"), payment_method="credit_card",
                                    provider="mock", return_url=None, ttl=MINUTE * 60, now=T0 + MINUTE,
                                    save_method=True).session
    await store(backend, purchase)

    found = await load(backend, purchase.id)

    assert [(s.save_method, s.method_saved_at, s.saved_method_id) for s in found.sessions] == \
        [(False, None, None), (True, None, None)]
    assert found.session(attempt.id).save_method is True


async def test_paid_sessions_awaiting_their_method_are_found_until_recorded(backend):
    later, earlier = a_purchase(at=T0 + MINUTE), a_purchase()
    for purchase in (later, earlier):
        purchase.sessions[0].save_method = True
        purchase.confirm_payment(purchase.sessions[0].id, purchase.created_at + MINUTE)
    await store(backend, later, earlier, a_paid_purchase("bob"))

    async with backend.uow() as uow:
        assert await uow.saved_methods.awaiting_method(T0 + 10 * MINUTE, 10) == \
            [(later.id, later.sessions[0].id), (earlier.id, earlier.sessions[0].id)]
        assert await uow.saved_methods.awaiting_method(T0 + MINUTE, 10) == [(earlier.id, earlier.sessions[0].id)]
        transaction = await uow.transactions.get(earlier.id, for_update=True)
        assert transaction.record_method_saved(transaction.sessions[0].id, T0 + 3 * MINUTE)
        await uow.transactions.update(transaction)
        await uow.commit()
    async with backend.uow() as uow:
        assert await uow.saved_methods.awaiting_method(T0 + 10 * MINUTE, 10) == [(later.id, later.sessions[0].id)]
    assert (await load(backend, earlier.id)).sessions[0].method_saved_at == T0 + 3 * MINUTE


async def test_an_off_session_attempt_keeps_its_saved_method(backend):
    purchase = a_purchase()
    purchase.open_session(id=new_id("ps"), order_id=new_order_id("S"), payment_method="credit_card",
                          provider="mock", return_url=None, ttl=MINUTE * 60, now=T0 + MINUTE, saved_method_id="spm_1")
    await store(backend, purchase)

    found = await load(backend, purchase.id)

    assert [s.saved_method_id for s in found.sessions] == [None, "spm_1"]
    assert [s.off_session for s in found.sessions] == [False, True]
