"""The storage of refunds with admin approval, over memory, SQLite and PostgreSQL alike: every field
of a refund under review reads back; a transaction's refunds are listed in its unit of work; the
refund reads (`ports.refund_queries`) filter, sort and page; the audit log is appended with its
unit of work (nothing of a rolled-back one stays), read newest first with its filters, and
refuses UPDATE and DELETE in the database itself."""
from __future__ import annotations

from datetime import timedelta

import pytest
from contract_support import (
    MINUTE,
    T0,
    Backend,
    a_paid_purchase,
    a_refund,
    new_id,
    new_order_id,
    state,
    store,
)

from domain.audit import AuditAction, AuditEntry, refund_entry
from domain.money import CNY, Money
from domain.refund import Refund, RefundKind, RefundStatus
from ports.refund_queries import AuditQuery, RefundQueries, RefundQuery


def refund_queries(backend: Backend) -> RefundQueries:
    """The refund reads over the same storage as `backend` (the composition root's wiring)."""
    if backend.kind == "memory":
        from adapters.memory_refunds import InMemoryRefundQueries
        return InMemoryRefundQueries(backend.queries._store)
    from adapters.sql.refund_queries import SqlRefundQueries
    return SqlRefundQueries(backend.queries._database)


def a_request(transaction, *, at=T0, by: str = "alice", kind: RefundKind = RefundKind.REQUESTED,
              receives: int | None = 2) -> Refund:
    return Refund.request(id=new_id("rf"), refund_order_id=new_order_id("R"), session=transaction.sessions[0],
                          amount=Money(340, CNY), receives=receives, ends_plan=False, reason="bought by mistake " * 20,
                          requested_by=by, kind=kind, now=at)


def an_entry(refund: Refund, actor: str, action: AuditAction, at) -> AuditEntry:
    return refund_entry(new_id("aud"), actor, action, refund, "req-" + new_id("r"), at, note="ok 好")


async def test_a_reviewed_refund_reads_back_field_for_field(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_request(t, kind=RefundKind.ADMIN, by="admin1")
    refund.approve("admin2", "second pair of eyes", T0 + MINUTE)
    refund.fail(T0 + 2 * MINUTE, "closed at the bank")
    await store(backend, t, refund)

    async with backend.uow() as uow:
        loaded = await uow.refunds.get(refund.id)
        listed = await uow.refunds.list_for_transaction(t.id)
    assert state(loaded) == state(refund)
    assert [r.id for r in listed] == [refund.id]
    assert state(await refund_queries(backend).refund(refund.id)) == state(refund)


async def test_refund_reads_filter_sort_and_page(backend: Backend) -> None:
    alice, bob = a_paid_purchase("alice"), a_paid_purchase("bob")
    first = a_request(alice, at=T0)
    second = a_request(bob, at=T0 + MINUTE, by="bob")
    automatic = a_refund(alice.sessions[0], T0 + 2 * MINUTE)
    await store(backend, alice, bob, first, second, automatic)
    reads = refund_queries(backend)

    newest, total = await reads.refunds(RefundQuery())
    assert ([r.id for r in newest], total) == ([automatic.id, second.id, first.id], 3)
    queue, _ = await reads.refunds(RefundQuery(statuses=(RefundStatus.REQUESTED,), oldest_first=True))
    assert [r.id for r in queue] == [first.id, second.id]
    mine, mine_total = await reads.refunds(RefundQuery(user_id="alice", limit=1, page=2))
    assert ([r.id for r in mine], mine_total) == ([first.id], 2)
    assert [r.id for r in (await reads.refunds(RefundQuery(kinds=(RefundKind.AUTOMATIC,))))[0]] == [automatic.id]
    assert (await reads.refunds(RefundQuery(provider="nope")))[1] == 0
    window = RefundQuery(date_from=T0 + MINUTE, date_to=T0 + MINUTE)
    assert [r.id for r in (await reads.refunds(window))[0]] == [second.id]
    assert (await reads.refunds(RefundQuery(page=5)))== ([], 3)
    assert await reads.refund(first.id, user_id="bob") is None
    assert [r.id for r in await reads.refunds_of(alice.id)] == [first.id, automatic.id]


async def test_the_audit_log_is_appended_with_its_unit_of_work_and_read_newest_first(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_request(t)
    await store(backend, t, refund)
    asked = an_entry(refund, "alice", AuditAction.REFUND_REQUESTED, T0)
    approved = an_entry(refund, "admin1", AuditAction.REFUND_APPROVED, T0 + MINUTE)
    lost = an_entry(refund, "admin2", AuditAction.REFUND_REJECTED, T0 + 2 * MINUTE)

    for entry in (asked, approved):
        async with backend.uow() as uow:
            await uow.audit_log.add(entry)
            await uow.commit()
    async with backend.uow() as uow:
        await uow.audit_log.add(lost)  # rolled back with its unit of work

    reads = refund_queries(backend)
    entries, total = await reads.audit_log(AuditQuery())
    assert (entries, total) == ([approved, asked], 2)
    assert (await reads.audit_log(AuditQuery(actor="alice")))[0] == [asked]
    assert (await reads.audit_log(AuditQuery(action="refund.approved")))[0] == [approved]
    assert (await reads.audit_log(AuditQuery(object_id=refund.id, limit=1, page=2))) == ([asked], 2)
    assert (await reads.audit_log(AuditQuery(date_from=T0 + timedelta(seconds=1))))[0] == [approved]
    assert approved.details["note"] == "ok 好" and approved.details["amount"] == 340


@pytest.mark.parametrize("statement", ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"])
async def test_the_database_refuses_to_change_or_delete_audit_entries(backend: Backend, statement: str) -> None:
    t = a_paid_purchase()
    refund = a_request(t)
    entry = an_entry(refund, "alice", AuditAction.REFUND_REQUESTED, T0)
    await store(backend, t, refund)
    async with backend.uow() as uow:
        await uow.audit_log.add(entry)
        await uow.commit()

    if backend.is_sql:
        with pytest.raises(Exception, match="append-only"):
            await backend.queries._database.execute(statement)
    else:  # the in-memory log has no way to change an entry: its repository only appends
        async with backend.uow() as uow:
            assert [name for name in dir(uow.audit_log) if not name.startswith("_")] == ["add"]

    assert (await refund_queries(backend).audit_log(AuditQuery()))[0] == [entry]


async def test_refunds_after_a_cursor_follow_the_lists_order(backend: Backend) -> None:
    alice, bob = a_paid_purchase("alice"), a_paid_purchase("bob")
    made = [a_request(alice, at=T0 + n * MINUTE) for n in range(3)]
    theirs = a_request(bob, at=T0 + 10 * MINUTE, by="bob")
    await store(backend, alice, bob, *made, theirs)
    reads = refund_queries(backend)
    first, second, third = made

    one, more = await reads.refunds_after(RefundQuery(user_id="alice", limit=1), third.id)
    assert ([r.id for r in one], more) == ([second.id], True)
    newer_first, more = await reads.refunds_after(RefundQuery(user_id="alice", limit=5), third.id)
    assert ([r.id for r in newer_first], more) == ([second.id, first.id], False)
    oldest_first, more = await reads.refunds_after(RefundQuery(oldest_first=True, limit=2), first.id)
    assert ([r.id for r in oldest_first], more) == ([second.id, third.id], True)
    assert await reads.refunds_after(RefundQuery(user_id="alice"), theirs.id) is None  # not one of hers
    assert await reads.refunds_after(RefundQuery(), "rf_unknown") is None


async def test_audit_entries_after_a_cursor_are_the_older_ones(backend: Backend) -> None:
    t = a_paid_purchase()
    refund = a_request(t)
    await store(backend, t, refund)
    entries = [an_entry(refund, "admin1", AuditAction.REFUND_APPROVED, T0 + n * MINUTE) for n in range(3)]
    async with backend.uow() as uow:
        for entry in entries:
            await uow.audit_log.add(entry)
        await uow.commit()
    reads = refund_queries(backend)

    assert await reads.audit_log_after(AuditQuery(limit=1), entries[2].id) == ([entries[1]], True)
    assert await reads.audit_log_after(AuditQuery(limit=5), entries[1].id) == ([entries[0]], False)
    assert await reads.audit_log_after(AuditQuery(actor="nobody"), entries[2].id) == ([], False)
    assert await reads.audit_log_after(AuditQuery(), "aud_unknown") is None
