"""A failure after the purchase committed (the database fails while the provider's instructions
are attached): the retry with the same Idempotency-Key resumes the purchase, and a session left
without instructions is completed by the reconciler (its provider order opened again under the
same order id) instead of sitting open, unpayable, on a pending slot."""
import pytest

from builders import all_transactions, session
from entrypoints.container import active_adapters
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand
from world import World


class DatabaseWentAway(Exception):
    pass


def failing_attach(world: World, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make every attach of instructions fail (as a dropped connection would); returns the ids of
    the sessions whose instructions were lost."""
    instructions = active_adapters(world.container).instructions()
    lost: list[str] = []

    async def attach(s) -> bool:
        lost.append(s.id)
        raise DatabaseWentAway("connection reset while attaching the instructions")

    monkeypatch.setattr(instructions, "attach", attach)
    return lost


async def test_a_retry_after_the_instructions_were_lost_resumes_the_same_purchase(monkeypatch):
    world = World()
    command = PurchaseReceivesCommand("alice", 10, "wechat_pay", request_key="key-1")
    with monkeypatch.context() as broken:
        lost = failing_attach(world, broken)
        with pytest.raises(DatabaseWentAway):
            await world.purchase_receives(command)

    retry = await world.purchase_receives(command)

    assert retry.session.id == lost[0] and retry.session.status == "open" and retry.session.payment_url
    assert [t.id for t in await all_transactions(world)] == [retry.transaction.id]
    status = await world.mock.query_payment(retry.session.order_id)  # one order, opened twice: the same
    assert (status.state.value, status.amount) == ("pending", retry.transaction.total)


async def test_a_session_left_without_instructions_is_completed_by_the_reconciler(monkeypatch):
    world = World()
    with monkeypatch.context() as broken:
        lost = failing_attach(world, broken)
        with pytest.raises(DatabaseWentAway):
            await world.purchase_receives(PurchaseReceivesCommand("alice", 10, "wechat_pay"))  # no retry comes
    [transaction] = await all_transactions(world)
    assert (await session(world, "alice", lost[0])).payment_url is None

    world.advance(minutes=1)  # its first check is due
    report = await world.reconcile_payments()

    completed = await session(world, "alice", lost[0])
    assert completed.status == "open" and completed.payment_url and completed.qr_code
    assert report.applied == 1
    await world.pay(completed)  # and it can be paid
    assert (await world.membership("alice")).purchased_remaining == 10


async def test_a_session_the_provider_refuses_to_open_again_is_failed_by_the_reconciler(monkeypatch):
    from domain.errors import ProviderError

    world = World()
    with monkeypatch.context() as broken:
        lost = failing_attach(world, broken)
        with pytest.raises(DatabaseWentAway):
            await world.purchase_receives(PurchaseReceivesCommand("alice", 10, "wechat_pay"))
    world.mock.inject_fault("open_payment", ProviderError("order closed"))

    world.advance(minutes=1)
    await world.reconcile_payments()

    assert (await session(world, "alice", lost[0])).status == "failed"  # no longer an open session
