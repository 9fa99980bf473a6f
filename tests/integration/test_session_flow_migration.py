"""Revision 0008 gives payment sessions a `flow` column: a database at 0007 that holds a service's
data (paid, pending and replaced sessions, a refunded duplicate payment, memberships, the ledger)
is upgraded by a real `payments migrate`, keeps every row (its sessions' flow NULL: opened before
flows were kept), and a real `payments serve` then answers as before and stores the flow of new
sessions; downgraded, the database is again the 0007 schema with every row but the flows. On
SQLite (an in-place ALTER: the refunds' foreign key to the sessions holds) and on PostgreSQL."""
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
from live import PAYMENTS_BIN, eventually, pay_through_page, serve_process

API = "/api/v1/payments"
# The mock cannot close an order, so a replaced session stays payable: paying it too is a
# duplicate payment, refunded (a `payment_refunds` row pointing at that session).
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


def like(found: dict[str, list[dict]], shape: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The tables of `found` that `shape` has, each row with only the columns `shape`'s rows have
    (what later revisions added is left out)."""
    projected = {}
    for name, shaped in shape.items():
        columns = set(shaped[0]) if shaped else set()
        projected[name] = sorted(({k: v for k, v in row.items() if k in columns} for row in found[name]), key=repr)
    return projected


def rows(url: str, *, without: tuple[str, ...] = ()) -> dict[str, list[dict]]:
    """Every row of every table but alembic's, as dicts without the columns `without`, sorted."""
    engine = sync_engine(url)
    try:
        meta = sa.MetaData()
        meta.reflect(engine)
        with engine.connect() as connection:
            return {name: sorted(({k: v for k, v in row._mapping.items() if k not in without}
                                  for row in connection.execute(sa.select(table))), key=repr)
                    for name, table in meta.tables.items() if name != "alembic_version"}
    finally:
        engine.dispose()


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


def copy_rows(source: str, target: str) -> None:
    """Every row of `source` into the same table of `target`, only the columns `target` has,
    parents first; PostgreSQL's identity sequence is moved past the copied ids."""
    source_engine, target_engine = sync_engine(source), sync_engine(target)
    try:
        source_meta, target_meta = sa.MetaData(), sa.MetaData()
        source_meta.reflect(source_engine)
        target_meta.reflect(target_engine)
        with source_engine.connect() as reading, target_engine.connect() as writing:
            for table in source_meta.sorted_tables:
                into = target_meta.tables.get(table.name)
                if table.name == "alembic_version" or into is None:  # a table of a later revision
                    continue
                found = [{k: v for k, v in row._mapping.items() if k in into.c}
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
    await eventually(lambda: service.get(f"{API}/membership", user="bob"),
                     lambda m: m["plan"] == "pro", what="bob's upgrade")
    return carol["transaction"]["id"]


async def answers(service, users: list[str]) -> dict:
    """What the API tells each user: the membership, the history and every transaction in full."""
    seen = {}
    for user in users:
        history = await service.get(f"{API}/transactions", user=user)
        details = {t["id"]: await service.get(f"{API}/transactions/{t['id']}", user=user) for t in history["items"]}
        seen[user] = {"membership": await service.get(f"{API}/membership", user=user), "history": history,
                      "details": details}
    return seen


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
