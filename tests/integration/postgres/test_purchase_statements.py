"""What a purchase sends to PostgreSQL (docs/benchmarks.md, issue 22): every statement is a round
trip, so their number is part of the contract of the hot path. Counted on asyncpg's connection,
through the service's own composition root, for a user who has bought before (steady state): the
risk gate's facts with the running experiment and the assignment in one read, BEGIN, the
membership's lock, one write (the transaction, its session and the user's pending count), COMMIT,
then the provider order's fields on the session (the HTTP layer adds the idempotency key's INSERT
and answer: 8 in all). A purchase over the pending limit sends as many up to the write and rolls
back, with nothing stored.

Why the lock is a statement of its own: in READ COMMITTED a statement reads the snapshot taken
when it started, so a `FOR UPDATE` in a CTE of the write would count the pending transactions as
they were before it waited for the lock, not as the purchase it waited for committed them (the
pending limit would not hold under concurrency: the last test here, for a user whose membership
exists and is current, the case such a shortcut would take)."""
from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from statement_counting import counted, made, service_container

from domain.errors import TooManyPendingError
from domain.transaction import TransactionStatus
from ports.queries import TransactionQuery
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
async def container(clean_postgres_url: str, tmp_path: Path) -> AsyncIterator[object]:
    async with service_container(clean_postgres_url, tmp_path, NOW, PAYMENTS_MAX_PENDING="2") as built:
        yield built


async def test_a_purchase_sends_six_statements_and_one_over_the_limit_stores_nothing(container) -> None:
    purchase = await made(container.use_cases.purchase_receives)
    queries = await made(container.adapters.queries)
    await purchase(PurchaseReceivesCommand("alice", 10, "wechat_pay"))  # the first: creates the membership

    with pytest.MonkeyPatch.context() as patch:
        statements = counted(patch)
        await purchase(PurchaseReceivesCommand("alice", 20, "wechat_pay"))
        bought = list(statements)
        statements.clear()
        with pytest.raises(TooManyPendingError):
            await purchase(PurchaseReceivesCommand("alice", 30, "wechat_pay"))
        refused = list(statements)

    assert len(bought) == 6, bought
    assert "risk_blocks" in bought[0] and "price_experiments" in bought[0], bought[0]  # one read for both
    assert (bought[1], bought[4]) == ("BEGIN;", "COMMIT;")
    assert bought[2].startswith("SELECT memberships.") and bought[2].endswith("FOR UPDATE OF memberships"), bought[2]
    assert bought[3].startswith("WITH w0 AS (INSERT INTO membership_transactions"), bought[3]
    assert bought[5].startswith("WITH w AS (UPDATE payment_sessions"), bought[5]  # the provider order's fields
    assert refused[:4] == bought[:4] and refused[4:] == ["ROLLBACK;"], refused
    pending = TransactionQuery(statuses=(TransactionStatus.PENDING,))
    assert (await queries.history("alice", pending))[1] == 2  # the refused purchase stored nothing


async def test_concurrent_purchases_of_a_member_respect_the_pending_limit(container) -> None:
    purchase = await made(container.use_cases.purchase_receives)
    queries = await made(container.adapters.queries)
    pending = TransactionQuery(statuses=(TransactionStatus.PENDING,))
    for user in ("alice", "bob", "carol", "dave"):  # rounds: a lost race shows in one of them
        await purchase(PurchaseReceivesCommand(user, 10, "wechat_pay"))  # the membership exists and is current
        results = await asyncio.gather(*(purchase(PurchaseReceivesCommand(user, 11 + n, "wechat_pay"))
                                         for n in range(30)), return_exceptions=True)
        assert Counter(type(r).__name__ for r in results) == {"PaymentView": 1, "TooManyPendingError": 29}, user
        assert (await queries.history(user, pending))[1] == 2
