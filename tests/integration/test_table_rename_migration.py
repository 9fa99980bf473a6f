"""Revision 0007 renames `transactions` to `membership_transactions` (the customer's schema): a
database at 0006 that holds a service's data (paid, pending and refunded purchases, their
sessions, a refund, memberships and their ledger) is upgraded by a real `payments migrate`, keeps
every row, and a real `payments serve` then answers exactly as before and takes new purchases;
the foreign keys of sessions and refunds still hold; downgraded, the database is again the 0006
schema with the same rows. On SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa

from adapters.sql.migration import current_revision, head_revision, sync_engine
from live import PAYMENTS_BIN, eventually, pay_through_page, serve_process
from migration_support import (  # noqa: F401 (new_database is a fixture)
    API,
    SERVICE_ENV,
    answers,
    at_revision,
    copy_rows,
    duplicate_refund_settled,
    like,
    new_database,
    rows,
    structure,
)


async def make_history(service) -> None:
    """Through HTTP: alice pays a purchase through a replacement session and then the replaced one
    too (a refunded duplicate); bob pays one; carol leaves one pending."""
    async with aiohttp.ClientSession() as browser:
        alice = await service.post(f"{API}/receives", {"amount": 10, "payment_method": "wechat_pay"},
                                   user="alice", expect=201)
        second = await service.post(f"{API}/sessions", {"transaction_id": alice["transaction"]["id"],
                                                        "payment_method": "alipay"}, user="alice", expect=201)
        await pay_through_page(browser, second["payment_url"])
        await eventually(lambda: service.get(f"{API}/sessions/{second['id']}", user="alice"),
                         lambda s: s["status"] == "completed", what="the second session to be paid")
        await pay_through_page(browser, alice["session"]["payment_url"])
        bob = await service.post(f"{API}/receives", {"amount": 3, "payment_method": "alipay"}, user="bob",
                                 expect=201)
        await pay_through_page(browser, bob["session"]["payment_url"])
        await service.post(f"{API}/receives", {"amount": 5, "payment_method": "credit_card"}, user="carol",
                           expect=201)
    await eventually(lambda: service.get(f"{API}/sessions/{alice['session']['id']}", user="alice"),
                     lambda s: s["status"] == "refunded", what="the duplicate payment to be refunded")
    await duplicate_refund_settled(service, "alice", alice["transaction"]["id"])
    await eventually(lambda: service.get(f"{API}/membership", user="bob"),
                     lambda m: m["receives"]["purchased_remaining"] == 3, what="bob's receives")


async def test_a_database_at_0006_holding_data_is_renamed_kept_and_served_and_goes_back_down(
        new_database, tmp_path: Path) -> None:
    source, migrated, reference = new_database("source"), new_database("upgraded"), new_database("reference")
    users = ["alice", "bob", "carol"]
    async with aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, "before", PAYMENTS_DATABASE_URL=source, **SERVICE_ENV) as service:
            await make_history(service)
            before = await answers(service, users)
        at_revision(migrated, "0006")
        copy_rows(source, migrated, {"membership_transactions": "transactions"})
        stored = rows(migrated)
        assert {name: len(found) > 0 for name, found in stored.items()
                if name in {"transactions", "payment_sessions", "payment_refunds", "receives_ledger"}} == {
            "transactions": True, "payment_sessions": True, "payment_refunds": True, "receives_ledger": True}

        upgrade = subprocess.run([str(PAYMENTS_BIN), "migrate"], capture_output=True, text=True, timeout=120,
                                 cwd=tmp_path, env={**os.environ, "PAYMENTS_DATABASE_URL": migrated})
        assert upgrade.returncode == 0, upgrade.stderr
        assert current_revision(migrated) == head_revision()
        at_revision(reference, "head")
        assert structure(migrated) == structure(reference)
        renamed = rows(migrated)
        assert "transactions" not in renamed
        expected = {("membership_transactions" if name == "transactions" else name): found
                    for name, found in stored.items()}
        assert like(renamed, expected) == expected

        async with serve_process(http, tmp_path, "after", PAYMENTS_DATABASE_URL=migrated, **SERVICE_ENV) as service:
            assert await answers(service, users) == before
            dave = await service.post(f"{API}/receives", {"amount": 2, "payment_method": "wechat_pay"}, user="dave",
                                      expect=201)
            async with aiohttp.ClientSession() as browser:
                await pay_through_page(browser, dave["session"]["payment_url"])
            await eventually(lambda: service.get(f"{API}/membership", user="dave"),
                             lambda m: m["receives"]["purchased_remaining"] == 2, what="dave's receives")

    engine = sync_engine(migrated)
    try:  # the sessions' and refunds' foreign keys point at the renamed table
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql(
                "UPDATE payment_sessions SET transaction_id = 'txn_nowhere' WHERE user_id = 'dave'")
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql("UPDATE payment_refunds SET transaction_id = 'txn_nowhere'")
    finally:
        engine.dispose()

    with_dave = rows(migrated)
    at_revision(migrated, "0006", down=True)
    at_revision(reference, "0006", down=True)
    assert structure(migrated) == structure(reference)
    back = rows(migrated)
    assert back == like({("transactions" if name == "membership_transactions" else name): found
                         for name, found in with_dave.items()}, back)
