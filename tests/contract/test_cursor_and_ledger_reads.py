"""The contract of the read side's cursor pages, reads as at an instant and ledger lines
(`ports.queries`: `history_after`, `TransactionQuery.as_of`, `ledger_page`, `ledger_after`), the
same over the in-memory fakes, SQLite and PostgreSQL:

- after a cursor come the user's transactions that follow it newest first (created_at, then id,
  descending), filtered, with whether more follow; chained cursors walk the whole history once;
  a transaction created meanwhile does not shift them; a cursor that is not the user's is None;
- read at an instant, a pending transaction whose sessions have all lapsed is `expired` (updated
  when the last one lapsed), in the items and in the status filters, exactly as the domain's
  `status_at` on the whole transaction says (`ports.queries.read_at`);
- the ledger comes newest first with stable opaque ids, each line with the running balance, the
  newest line's balance the membership's, by page or after a line of the user's.
"""
from __future__ import annotations

from datetime import timedelta

import pytest
from contract_support import (
    HOUR,
    MINUTE,
    STATUS,
    T0,
    TYPES,
    Backend,
    a_membership,
    a_purchase,
    a_transaction,
    ids,
    open_on,
    store,
)

from domain.catalog import DEFAULT_CATALOG
from domain.ledger import LedgerKind
from domain.transaction import Transaction
from ports.queries import TransactionQuery, read_at


@pytest.fixture
async def history(backend: Backend) -> dict[str, Transaction]:
    """Alice's seven transactions (two at the same instant) and one of Bob's, an hour apart."""
    h = {
        "a1": a_transaction(at=T0, id="txn_a1"),
        "a2": a_transaction(at=T0 + HOUR, status=STATUS.SUCCEEDED, id="txn_a2"),
        "a3": a_transaction(at=T0 + 2 * HOUR, type=TYPES.PLAN_UPGRADE, status=STATUS.CANCELLED, id="txn_a3"),
        "a4": a_transaction(at=T0 + 3 * HOUR, type=TYPES.PLAN_DOWNGRADE, id="txn_a4"),
        "b5": a_transaction(at=T0 + 4 * HOUR, status=STATUS.EXPIRED, id="txn_b5"),
        "a5": a_transaction(at=T0 + 4 * HOUR, status=STATUS.REFUNDED, id="txn_a5"),
        "a6": a_transaction(at=T0 + 5 * HOUR, status=STATUS.SUCCEEDED, id="txn_a6"),
        "bob": a_transaction("bob", at=T0 + 2 * HOUR, id="txn_bob"),
    }
    await store(backend, *h.values())
    return h


NEWEST_FIRST = ["txn_a6", "txn_b5", "txn_a5", "txn_a4", "txn_a3", "txn_a2", "txn_a1"]


async def after(backend: Backend, cursor: str, user: str = "alice", **query) -> tuple[list[str], bool] | None:
    found = await backend.queries.history_after(user, TransactionQuery(**query), cursor)
    return None if found is None else (ids(found[0]), found[1])


async def test_after_a_cursor_come_the_next_ones_newest_first_ties_by_id(backend: Backend, history) -> None:
    assert await after(backend, "txn_a6", limit=3) == (["txn_b5", "txn_a5", "txn_a4"], True)
    assert await after(backend, "txn_b5", limit=1) == (["txn_a5"], True)  # a tie at 4h: by id, descending
    assert await after(backend, "txn_a3", limit=2) == (["txn_a2", "txn_a1"], False)
    assert await after(backend, "txn_a1") == ([], False)


async def test_chained_cursors_walk_the_whole_history_once(backend: Backend, history) -> None:
    first, _ = await backend.queries.history("alice", TransactionQuery(limit=2))
    walked, cursor, more = ids(first), first[-1].id, True
    while more:
        page, more = await after(backend, cursor, limit=2)
        walked += page
        cursor = page[-1] if page else cursor
    assert walked == NEWEST_FIRST


async def test_filters_combine_with_the_cursor_which_need_not_match_them(backend: Backend, history) -> None:
    assert await after(backend, "txn_a6", statuses=(STATUS.SUCCEEDED,)) == (["txn_a4", "txn_a2"], False)
    assert await after(backend, "txn_a5", types=(TYPES.PURCHASE_RECEIVES,), limit=1) == (["txn_a2"], True)
    assert await after(backend, "txn_a6", date_from=T0 + 3 * HOUR) == (["txn_b5", "txn_a5", "txn_a4"], False)
    assert await after(backend, "txn_b5", date_to=T0 + HOUR, limit=5) == (["txn_a2", "txn_a1"], False)


async def test_new_transactions_do_not_shift_what_follows_a_cursor(backend: Backend, history) -> None:
    first, _ = await backend.queries.history("alice", TransactionQuery(limit=3))
    await store(backend, a_transaction(at=T0 + 6 * HOUR, id="txn_a7"), a_transaction(at=T0 + 6 * HOUR, id="txn_a8"))
    assert ids(first) == ["txn_a6", "txn_b5", "txn_a5"]
    assert await after(backend, first[-1].id, limit=2) == (["txn_a4", "txn_a3"], True)
    # where page 2 would show two of page 1 again
    assert ids((await backend.queries.history("alice", TransactionQuery(limit=3, page=2)))[0]) == [
        "txn_b5", "txn_a5", "txn_a4"]


@pytest.mark.parametrize("cursor", ["txn_bob", "txn_nobody", "", "rle_1"])
async def test_a_cursor_that_is_not_one_of_the_users_transactions_is_none(backend: Backend, history, cursor) -> None:
    assert await after(backend, cursor) is None
    assert await after(backend, "txn_a6", user="bob") is None


# ---------------------------------------------------------------------- read as at an instant
@pytest.fixture
async def lapsing(backend: Backend) -> dict[str, Transaction]:
    """Pending purchases: one whose session lapses at T0+1h, one with a second attempt until
    T0+2h, one without sessions (never lapses), and one the sweep already expired."""
    t = {"lapses": a_purchase(at=T0), "later": a_purchase(at=T0 + MINUTE),
         "none": a_transaction(at=T0 + 2 * MINUTE), "swept": a_purchase(at=T0 + 3 * MINUTE)}
    t["later"].fail_attempt(t["later"].sessions[0].id, "declined", T0 + 2 * MINUTE)
    open_on(t["later"], at=T0 + HOUR)  # a second attempt, until T0+2h
    t["swept"].expire_if_lapsed(T0 + 2 * HOUR)
    await store(backend, *t.values())
    return t


async def read(backend: Backend, at, **query) -> dict[str, Transaction]:
    items, _ = await backend.queries.history("alice", TransactionQuery(as_of=at, limit=100, **query))
    return {x.id: x for x in items}


@pytest.mark.parametrize("at", [T0, T0 + HOUR - MINUTE, T0 + HOUR, T0 + 2 * HOUR, T0 + 3 * HOUR])
async def test_history_reads_each_transaction_as_the_domain_does_at_that_instant(backend: Backend, lapsing, at) -> None:
    found = await read(backend, at)
    for t in lapsing.values():
        whole = read_at(await backend.queries.transaction(t.id), at)
        assert (found[t.id].status, found[t.id].updated_at) == (whole.status, whole.updated_at) == (
            t.status_at(at), whole.updated_at)
        assert found[t.id].completed_at is None and found[t.id].sessions == []
    cursor_items, _ = await backend.queries.history_after("alice", TransactionQuery(as_of=at), lapsing["swept"].id)
    assert [x.status for x in cursor_items] == [found[x.id].status for x in cursor_items]


async def test_a_lapsed_pending_transaction_reads_expired_updated_when_it_lapsed(backend: Backend, lapsing) -> None:
    found = await read(backend, T0 + HOUR)
    assert found[lapsing["lapses"].id].status is STATUS.EXPIRED
    assert found[lapsing["lapses"].id].updated_at == T0 + HOUR  # its session's expires_at
    assert found[lapsing["later"].id].status is STATUS.PENDING
    stored = await read(backend, None)
    assert stored[lapsing["lapses"].id].status is STATUS.PENDING  # without an instant: as stored


async def test_status_filters_read_at_the_instant(backend: Backend, lapsing) -> None:
    at = T0 + HOUR
    lapses, later, none, swept = (lapsing[k].id for k in ("lapses", "later", "none", "swept"))
    assert set(await read(backend, at, statuses=(STATUS.EXPIRED,))) == {lapses, swept}
    assert set(await read(backend, at, statuses=(STATUS.PENDING,))) == {later, none}
    assert set(await read(backend, at, statuses=(STATUS.PENDING, STATUS.EXPIRED))) == {lapses, later, none, swept}
    assert set(await read(backend, at, statuses=(STATUS.EXPIRED, STATUS.SUCCEEDED))) == {lapses, swept}
    assert set(await read(backend, T0 + 2 * HOUR, statuses=(STATUS.PENDING,))) == {none}
    items, total = await backend.queries.history("alice", TransactionQuery(as_of=at, statuses=(STATUS.EXPIRED,),
                                                                           limit=1))
    assert (ids(items), total) == ([swept], 2)
    page, more = await backend.queries.history_after(
        "alice", TransactionQuery(as_of=at, statuses=(STATUS.EXPIRED,)), swept)
    assert (ids(page), more) == ([lapses], False)


# ---------------------------------------------------------------------- the ledger
async def a_ledger(backend: Backend, user: str = "alice"):
    """Alice's ledger: the basic allowance (3), a purchase of 10, a consumption of 5 (3 + 2),
    the next period (expiry of 0 is no entry, a new grant of 3) and a consumption of 1."""
    m = a_membership(user)
    m.credit_purchase(10, "txn_bought", T0 + MINUTE)
    m.consume(5, "match-1", T0 + 2 * MINUTE)
    await store(backend, m)
    async with backend.uow() as uow:
        m = await uow.memberships.get(user, for_update=True)
        m.roll_forward(T0 + timedelta(days=40), DEFAULT_CATALOG)
        m.consume(1, "match-2", T0 + timedelta(days=40))
        await uow.memberships.update(m)
        await uow.commit()


async def test_ledger_lines_are_newest_first_with_the_balance_after_each(backend: Backend) -> None:
    await a_ledger(backend)
    await a_ledger(backend, "bob")
    lines, total = await backend.queries.ledger_page("alice", 1, 20)
    assert [(x.entry.kind, x.entry.delta, x.entry.reference, x.balance_after) for x in lines] == [
        (LedgerKind.CONSUMPTION, -1, "match-2", 10),
        (LedgerKind.ALLOWANCE_GRANT, 3, lines[1].entry.reference, 11),
        (LedgerKind.CONSUMPTION, -2, "match-1", 8),
        (LedgerKind.CONSUMPTION, -3, "match-1", 10),
        (LedgerKind.PURCHASE, 10, "txn_bought", 13),
        (LedgerKind.ALLOWANCE_GRANT, 3, lines[5].entry.reference, 3),
    ]
    assert total == 6
    assert sum(x.entry.delta for x in lines) == lines[0].balance_after == (await backend.queries.membership(
        "alice")).balance.total
    assert len({x.id for x in lines}) == 6 and all(x.id.startswith("rle_") for x in lines)
    assert {x.entry.user_id for x in lines} == {"alice"}
    assert [x.entry for x in reversed(lines)] == await backend.queries.ledger("alice")


async def test_ledger_pages_and_cursors_give_the_same_lines_and_balances(backend: Backend) -> None:
    await a_ledger(backend)
    whole, _ = await backend.queries.ledger_page("alice", 1, 100)
    assert [await backend.queries.ledger_page("alice", n, 4) for n in (1, 2, 3)] == [
        (whole[:4], 6), (whole[4:], 6), ([], 6)]
    assert await backend.queries.ledger_after("alice", whole[1].id, 3) == (whole[2:5], True)
    assert await backend.queries.ledger_after("alice", whole[2].id, 3) == (whole[3:], False)
    assert await backend.queries.ledger_after("alice", whole[5].id, 3) == ([], False)


async def test_ledger_ids_are_stable_as_lines_are_added(backend: Backend) -> None:
    await a_ledger(backend)
    before, _ = await backend.queries.ledger_page("alice", 1, 100)
    async with backend.uow() as uow:
        m = await uow.memberships.get("alice", for_update=True)
        m.credit_purchase(4, "txn_more", T0 + timedelta(days=41))
        await uow.memberships.update(m)
        await uow.commit()
    now, _ = await backend.queries.ledger_page("alice", 1, 100)
    assert now[1:] == before and now[0].balance_after == before[0].balance_after + 4
    assert await backend.queries.ledger_after("alice", before[0].id, 100) == (before[1:], False)


async def test_a_ledger_cursor_that_is_not_the_users_is_none(backend: Backend) -> None:
    await a_ledger(backend)
    await a_ledger(backend, "bob")
    bobs, _ = await backend.queries.ledger_page("bob", 1, 1)
    for cursor in (bobs[0].id, "rle_999999", "rle_", "rle_01", "rle_-1", "rle_1x", "txn_a1", "rle_" + "9" * 30):
        assert await backend.queries.ledger_after("alice", cursor, 10) is None, cursor


async def test_no_membership_no_ledger(backend: Backend) -> None:
    assert await backend.queries.ledger_page("carol", 1, 20) == ([], 0)
    assert await backend.queries.ledger_page("carol", 2, 20) == ([], 0)
