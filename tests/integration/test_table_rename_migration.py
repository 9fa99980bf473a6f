"""Revision 0007 renames `transactions` to `membership_transactions` (the customer's schema): a
database at 0006 that holds a service's data (paid, pending and refunded purchases, their
sessions, a refund, memberships and their ledger) is upgraded by a real `payments migrate`, keeps
every row, and a real `payments serve` then answers exactly as before and takes new purchases;
the foreign keys of sessions and refunds still hold; downgraded, the database is again the 0006
schema with the same rows. On SQLite and on PostgreSQL."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from alembic import command

from adapters.sql.migration import alembic_config, current_revision, head_revision, sync_engine
from live import PAYMENTS_BIN, pay_through_page, serve_process, eventually

API = "/api/v1/payments"
# The mock cannot close an order, so a replaced session stays payable: paying it too is a
# duplicate payment, refunded (a `payment_refunds` row).
SERVICE_ENV = {"PAYMENTS_MOCK_FAULTS": "close_payment=error:1"}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def new_database(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[str], str]:
    """Makes empty databases of the parametrized kind: `new_database(label) -> url`."""
    if request.param == "sqlite":
        return lambda label: f"sqlite:///{tmp_path / label}.db"
    return request.getfixturevalue("postgres_database_factory")


def at_revision(url: str, revision: str, *, down: bool = False) -> None:
    engine = sync_engine(url)
    try:
        with engine.connect() as connection:
            (command.downgrade if down else command.upgrade)(alembic_config(connection), revision)
            connection.commit()
    finally:
        engine.dispose()


def rows(url: str) -> dict[str, list[dict]]:
    """Every row of every table but alembic's (as dicts), sorted, by table name."""
    engine = sync_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as connection:
            return {name: sorted((dict(row._mapping) for row in connection.execute(sa.select(table))), key=repr)
                    for name, table in meta.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


def like(found: dict[str, list[dict]], shape: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The tables of `found` that `shape` has, each row with only the columns `shape`'s rows have:
    what later revisions add (a column, a table) is left out of the comparison (the structure is
    compared whole, against a database migrated from nothing)."""
    projected = {}
    for name, shaped in shape.items():
        columns = set(shaped[0]) if shaped else set()
        projected[name] = sorted(({k: v for k, v in row.items() if k in columns} for row in found.get(name, [])),
                                 key=repr)
    return projected


def structure(url: str) -> dict:
    """The tables, columns, indexes and named constraints of the database."""
    engine = sync_engine(url)
    try:
        inspector = sa.inspect(engine)
        return {table: (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted((i["name"], tuple(map(str, i["column_names"]))) for i in inspector.get_indexes(table)),
            inspector.get_pk_constraint(table)["name"],
            sorted(u["name"] for u in inspector.get_unique_constraints(table)),
            sorted(c["name"] for c in inspector.get_check_constraints(table)),
            sorted((f["name"], f["referred_table"]) for f in inspector.get_foreign_keys(table)),
        ) for table in sorted(inspector.get_table_names())}
    finally:
        engine.dispose()


def copy_rows(source: str, target: str, renamed: dict[str, str]) -> None:
    """Every row of `source` into the same table of `target` (`renamed`: source name -> target
    name), parents first; PostgreSQL's identity sequences are moved past the copied ids."""
    source_engine, target_engine = sync_engine(source), sync_engine(target)
    try:
        source_meta, target_meta = sa.MetaData(), sa.MetaData()
        source_meta.reflect(source_engine)
        target_meta.reflect(target_engine)
        with source_engine.connect() as reading, target_engine.connect() as writing:
            for table in source_meta.sorted_tables:
                into = target_meta.tables.get(renamed.get(table.name, table.name))
                if table.name == "alembic_version" or into is None:  # a table of a later revision
                    continue
                found = [{k: v for k, v in row._mapping.items() if k in into.c}  # nor their columns
                         for row in reading.execute(sa.select(table))]
                if found:
                    writing.execute(sa.insert(into), found)
            if writing.dialect.name == "postgresql":
                writing.exec_driver_sql("SELECT setval(pg_get_serial_sequence('receives_ledger', 'id'), "
                                        "(SELECT max(id) FROM receives_ledger))")
            writing.commit()
    finally:
        source_engine.dispose()
        target_engine.dispose()


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
    await eventually(lambda: service.get(f"{API}/membership", user="bob"),
                     lambda m: m["receives"]["purchased_remaining"] == 3, what="bob's receives")


async def answers(service, users: list[str]) -> dict:
    """What the API tells each user: the membership, the history and every transaction in full."""
    seen = {}
    for user in users:
        history = await service.get(f"{API}/transactions", user=user)
        details = {t["id"]: await service.get(f"{API}/transactions/{t['id']}", user=user) for t in history["items"]}
        seen[user] = {"membership": await service.get(f"{API}/membership", user=user), "history": history,
                      "details": details}
    return seen


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
