"""What a provider's confirmation sends to PostgreSQL (docs/benchmarks.md, issue 22): every
statement is a round trip, so their number is part of the contract of the hot path. Counted on
asyncpg's connection, through the service's own composition root: BEGIN, the order found with its
owner's membership locked and then its transaction with its sessions (one statement), one batched
write (the event id with it) and COMMIT. A re-delivery sends as many, finds its event id taken in
the batch and rolls back. A user with no membership yet takes the earlier path (it is created,
then the transaction locked)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from statement_counting import counted, made, service_container

from ports.use_cases.notifications.handle_notification import HandleNotificationCommand
from ports.use_cases.payments.purchase_receives import PurchaseReceivesCommand

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 5, 20, 9, 30, tzinfo=UTC)


@pytest.fixture
async def container(clean_postgres_url: str, tmp_path: Path) -> AsyncIterator[object]:
    async with service_container(clean_postgres_url, tmp_path, NOW) as built:
        yield built


async def test_a_confirmation_sends_four_statements_and_its_re_delivery_changes_nothing(container) -> None:
    purchase = await made(container.use_cases.purchase_receives)
    notify = await made(container.use_cases.handle_notification)
    queries = await made(container.adapters.queries)
    mock = (await made(container.adapters.payment_providers))["mock"]
    bought = await purchase(PurchaseReceivesCommand("alice", 10, "wechat_pay"))
    headers, body = mock.settle(bought.session.order_id, succeeded=True)

    with pytest.MonkeyPatch.context() as patch:
        statements = counted(patch)
        first = await notify(HandleNotificationCommand("mock", headers, body))
        applied = list(statements)
        statements.clear()
        again = await notify(HandleNotificationCommand("mock", headers, body))
        redelivered = list(statements)

    assert (first.effect, again.effect) == ("applied", "duplicate")
    assert len(applied) == 4, applied
    assert (applied[0], applied[-1]) == ("BEGIN;", "COMMIT;")
    assert len(redelivered) == 4 and redelivered[-1] == "ROLLBACK;", redelivered  # its event id taken
    assert (await queries.membership("alice")).purchased_remaining == 10


async def test_a_confirmation_for_a_user_without_a_membership_creates_it_then_locks_the_transaction(
        container, clean_postgres_url: str) -> None:
    purchase = await made(container.use_cases.purchase_receives)
    notify = await made(container.use_cases.handle_notification)
    queries = await made(container.adapters.queries)
    mock = (await made(container.adapters.payment_providers))["mock"]
    bought = await purchase(PurchaseReceivesCommand("alice", 10, "wechat_pay"))
    connection = await asyncpg.connect(clean_postgres_url)
    try:  # a purchase made before the user had a membership row (the first use creates it)
        await connection.execute("DELETE FROM receives_ledger WHERE user_id = 'alice'")
        await connection.execute("DELETE FROM memberships WHERE user_id = 'alice'")
    finally:
        await connection.close()
    headers, body = mock.settle(bought.session.order_id, succeeded=True)

    with pytest.MonkeyPatch.context() as patch:
        statements = counted(patch)
        applied = await notify(HandleNotificationCommand("mock", headers, body))

    assert applied.effect == "applied"
    # the owner (nothing locked), the membership's INSERT and its ledger row (sent before the
    # next read), then the transaction locked: as before the one-statement path
    assert len(statements) == 7, "\n".join(statements)
    assert statements[4].startswith("SELECT membership_transactions.id AS t_id"), statements
    assert (await queries.membership("alice")).purchased_remaining == 10
    assert (await queries.transaction(bought.transaction.id)).status.value == "succeeded"
