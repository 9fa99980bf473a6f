"""Revision 0008 gives payment sessions a `flow` column: a database at 0007 that holds a service's
data (paid, pending and replaced sessions, a refunded duplicate payment, memberships, the ledger)
is upgraded by a real `payments migrate`, keeps every row (its sessions' flow NULL: opened before
flows were kept), and a real `payments serve` then answers as before and stores the flow of new
sessions; downgraded, the database is again the 0007 schema with every row but the flows. On
SQLite (an in-place ALTER: the refunds' foreign key to the sessions holds) and on PostgreSQL."""
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


async def make_history(service) -> str:
    """Through HTTP: alice pays a purchase through a replacement session and then the replaced one
    too (a refunded duplicate); bob pays an upgrade; carol leaves a purchase pending. Returns
    carol's transaction id."""
    async with aiohttp.ClientSession() as browser:
        alice = await service.post(f"{API}/receives", {"amount": 10, "payment_method": "wechat_pay"},
                                   user="alice", expect=201)
        second = await service.post(f"{API}/sessions", {"transaction_id": alice["transaction"]["id"],
                                                        "payment_method": "alipay", "flow": "redirect"},
                                    user="alice", expect=201)
        await pay_through_page(browser, second["payment_url"])
        await eventually(lambda: service.get(f"{API}/sessions/{second['id']}", user="alice"),
                         lambda s: s["status"] == "completed", what="the second session to be paid")
        await pay_through_page(browser, alice["session"]["payment_url"])
        bob = await service.post(f"{API}/plan", {"new_plan": "pro", "payment_method": "alipay",
                                                 "flow": "mobile_redirect"}, user="bob", expect=201)
        await pay_through_page(browser, bob["session"]["payment_url"])
        carol = await service.post(f"{API}/receives", {"amount": 5, "payment_method": "credit_card"}, user="carol",
                                   expect=201)
    await eventually(lambda: service.get(f"{API}/sessions/{alice['session']['id']}", user="alice"),
                     lambda s: s["status"] == "refunded", what="the duplicate payment to be refunded")
    await duplicate_refund_settled(service, "alice", alice["transaction"]["id"])
    await eventually(lambda: service.get(f"{API}/membership", user="bob"),
                     lambda m: m["plan"] == "pro", what="bob's upgrade")
    return carol["transaction"]["id"]


def session_flows(url: str) -> dict[str, str | None]:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            return dict(connection.exec_driver_sql("SELECT id, flow FROM payment_sessions").all())
    finally:
        engine.dispose()


async def test_a_database_at_0007_holding_data_gains_session_flows_keeps_its_rows_and_goes_back_down(
        new_database, tmp_path: Path) -> None:
    source, migrated, reference = new_database("source"), new_database("upgraded"), new_database("reference")
    users = ["alice", "bob", "carol"]
    async with aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, "before", PAYMENTS_DATABASE_URL=source, **SERVICE_ENV) as service:
            carol_txn = await make_history(service)
            before = await answers(service, users)
        at_revision(migrated, "0007")
        copy_rows(source, migrated)
        stored = rows(migrated)
        assert {name: len(stored[name]) > 0 for name in ("membership_transactions", "payment_sessions",
                                                         "payment_refunds", "receives_ledger")} == dict.fromkeys(
            ("membership_transactions", "payment_sessions", "payment_refunds", "receives_ledger"), True)
        assert all("flow" not in row for row in stored["payment_sessions"])

        upgrade = subprocess.run([str(PAYMENTS_BIN), "migrate"], capture_output=True, text=True, timeout=120,
                                 cwd=tmp_path, env={**os.environ, "PAYMENTS_DATABASE_URL": migrated})
        assert upgrade.returncode == 0, upgrade.stderr
        assert current_revision(migrated) == head_revision()
        at_revision(reference, "head")
        assert structure(migrated) == structure(reference)
        assert like(rows(migrated), stored) == stored  # every row kept as it was
        old_sessions = session_flows(migrated)
        assert set(old_sessions.values()) == {None}  # opened before flows were kept

        async with serve_process(http, tmp_path, "after", PAYMENTS_DATABASE_URL=migrated, **SERVICE_ENV) as service:
            assert await answers(service, users) == before
            retried = await service.post(f"{API}/sessions", {"transaction_id": carol_txn, "flow": "mobile_redirect"},
                                         user="carol", expect=201)
            assert (retried["payment_method"], retried["qr_code"]) == ("credit_card", None)
            dave = await service.post(f"{API}/receives", {"amount": 2, "payment_method": "wechat_pay"}, user="dave",
                                      expect=201)
            async with aiohttp.ClientSession() as browser:
                await pay_through_page(browser, dave["session"]["payment_url"])
            await eventually(lambda: service.get(f"{API}/membership", user="dave"),
                             lambda m: m["receives"]["purchased_remaining"] == 2, what="dave's receives")

    flows = session_flows(migrated)
    assert {k: flows[k] for k in old_sessions} == old_sessions
    assert (flows[retried["id"]], flows[dave["session"]["id"]]) == ("mobile_redirect", "qr_code")

    at_revision(migrated, "0008", down=True)  # what later revisions did is undone by them
    upgraded = rows(migrated, without=("flow",))
    at_revision(migrated, "0007", down=True)
    at_revision(reference, "0007", down=True)
    assert structure(migrated) == structure(reference)
    assert rows(migrated) == upgraded
    engine = sync_engine(migrated)
    try:  # the refunds' foreign key to the sessions still holds after the column went
        with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
            connection.exec_driver_sql("UPDATE payment_refunds SET session_id = 'ps_nowhere'")
    finally:
        engine.dispose()
