"""Contract of the risk store (`ports.risk.RiskStore`) over memory, SQLite and PostgreSQL: the
snapshot the gate reads (blocked, paid in a window, failed or expired attempts in a window, a
transaction's amount) counts exactly what it should and nobody else's, and read with the running
price experiment (one statement on SQL) answers what the two reads would; one open flag per user and
rule; flags filtered and paged newest first; resolved once, with its audit entry; blocks idempotent
and audited; refund requests counted; payer links kept per user with their latest time."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import attrs
import pytest

from adapters.memory import InMemoryStore, in_memory_uow_factory
from contract_support import HOUR, MINUTE, T0, a_paid_purchase, a_purchase, new_id, new_order_id, open_on, store
from domain.audit import AuditEntry
from domain.catalog import DEFAULT_CATALOG
from domain.experiment import Experiment, PriceVariant
from domain.refund import Refund, RefundKind
from domain.risk import RiskFlag, RiskRule
from ports.events import EventDispatcher


@attrs.frozen
class Storage:
    kind: str
    uow: object
    risk: object
    audit: object  # an async callable: the audit entries, newest first
    experiments: object = None  # the experiment store on the same storage


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def storage(request: pytest.FixtureRequest) -> AsyncIterator[Storage]:
    if request.param == "memory":
        from adapters.memory_experiments import InMemoryExperimentStore
        from adapters.memory_risk import InMemoryRiskStore
        memory = InMemoryStore()

        async def audit():
            return list(reversed(memory.audit_log))
        yield Storage("memory", in_memory_uow_factory(memory, EventDispatcher()), InMemoryRiskStore(memory), audit,
                      InMemoryExperimentStore(memory))
        return
    from adapters.sql.database import create_database
    from adapters.sql.experiments import SqlExperimentStore
    from adapters.sql.risk import SqlRiskStore
    from adapters.sql.unit_of_work import sql_uow_factory

    if request.param == "sqlite":
        database = create_database(request.getfixturevalue("fresh_sqlite_url"))
    else:
        database = create_database(request.getfixturevalue("clean_postgres_url"), min_size=1, max_size=6)
    await database.connect()

    async def audit():
        rows = await database.fetch_all("SELECT action, object_id, actor FROM audit_log ORDER BY created_at DESC, id")
        return [AuditEntry(id="", actor=r["actor"], action=r["action"], object_type="", object_id=r["object_id"],
                           details={}, request_id=None, created_at=T0) for r in rows]
    try:
        yield Storage(request.param, sql_uow_factory(database, EventDispatcher()), SqlRiskStore(database), audit,
                      SqlExperimentStore(database))
    finally:
        await database.disconnect()


def a_flag(user: str = "alice", rule: RiskRule = RiskRule.DAILY_AMOUNT, at=T0, **details) -> RiskFlag:
    return RiskFlag(id=new_id("rk"), user_id=user, rule=rule, details=details or {"amount": 1700}, created_at=at)


def an_entry(action: str, object_id: str, at=T0) -> AuditEntry:
    return AuditEntry(id=new_id("au"), actor="boss", action=action, object_type="risk", object_id=object_id,
                      details={"note": "x"}, request_id="req-1", created_at=at)


async def test_a_snapshot_counts_the_users_recent_payments_and_failed_attempts(storage):
    old = a_paid_purchase("alice", at=T0 - timedelta(hours=30))  # paid outside the 24 h
    recent = [a_paid_purchase("alice", at=T0 - HOUR), a_paid_purchase("alice", at=T0 - 2 * HOUR)]
    someone_else = a_paid_purchase("bob", at=T0 - HOUR)
    failing = a_purchase("alice", at=T0 - 30 * MINUTE)
    failing.fail_attempt(failing.sessions[0].id, "declined", T0 - 20 * MINUTE)
    open_on(failing, at=T0 - 19 * MINUTE)
    failing.replace_open_sessions(T0 - 18 * MINUTE)  # cancelled: not a failure
    long_ago = a_purchase("alice", at=T0 - 3 * HOUR)
    long_ago.fail_attempt(long_ago.sessions[0].id, "declined", T0 - 2 * HOUR)
    pending = a_purchase("alice", at=T0 - MINUTE)
    await store(storage, old, *recent, someone_else, failing, long_ago, pending)

    snapshot = await storage.risk.snapshot("alice", paid_since=T0 - timedelta(hours=24), failed_since=T0 - HOUR,
                                           transaction_id=pending.id)
    assert snapshot.blocked is False
    assert snapshot.paid_last_day == sum(t.total.amount for t in recent)
    assert snapshot.failed_last_hour == 1
    assert snapshot.amount == pending.total.amount
    # Another user's transaction id reads no amount; a user never seen reads zeros.
    assert (await storage.risk.snapshot("bob", paid_since=T0 - HOUR, failed_since=T0,
                                        transaction_id=pending.id)).amount is None
    nobody = await storage.risk.snapshot("nobody", paid_since=T0, failed_since=T0)
    assert (nobody.blocked, nobody.paid_last_day, nobody.failed_last_hour, nobody.amount) == (False, 0, 0, None)


async def test_blocks_are_idempotent_show_in_the_snapshot_and_are_audited(storage):
    for _ in range(2):
        await storage.risk.set_blocked("mallory", True, reason="fraud", by="boss", now=T0,
                                       audit=an_entry("user.blocked", "mallory"))
    assert (await storage.risk.snapshot("mallory", paid_since=T0, failed_since=T0)).blocked
    assert not (await storage.risk.snapshot("alice", paid_since=T0, failed_since=T0)).blocked
    await storage.risk.set_blocked("mallory", False, reason=None, by="boss", now=T0 + MINUTE,
                                   audit=an_entry("user.unblocked", "mallory", T0 + MINUTE))
    assert not (await storage.risk.snapshot("mallory", paid_since=T0, failed_since=T0)).blocked
    assert [e.action for e in await storage.audit()] == ["user.unblocked", "user.blocked", "user.blocked"]


async def test_the_snapshot_and_the_running_experiment_read_together_are_what_each_read_answers(storage, monkeypatch):
    recent = a_paid_purchase("alice", at=T0 - HOUR)
    failing = a_purchase("alice", at=T0 - 30 * MINUTE)
    failing.fail_attempt(failing.sessions[0].id, "declined", T0 - 20 * MINUTE)
    await store(storage, recent, failing, a_paid_purchase("bob", at=T0 - 2 * HOUR))
    await storage.risk.set_blocked("mallory", True, reason="fraud", by="boss", now=T0,
                                   audit=an_entry("user.blocked", "mallory"))
    window = dict(paid_since=T0 - timedelta(hours=24), failed_since=T0 - HOUR)
    users = ("alice", "bob", "mallory", "nobody")

    async def separately(user):
        return await storage.risk.snapshot(user, **window), await storage.experiments.running(user)

    async def together(user):
        return await storage.risk.snapshot_and_running(storage.experiments, user, **window)

    def no_separate_reads():  # on SQL, one statement: neither read of its own is made
        if storage.kind != "memory":
            monkeypatch.setattr(storage.risk, "snapshot", lambda *a, **k: pytest.fail("snapshot read on its own"))
            monkeypatch.setattr(storage.experiments, "running", lambda *a, **k: pytest.fail("running read on its own"))

    expected = {user: await separately(user) for user in users}  # no experiment runs
    no_separate_reads()
    for user in users:
        assert await together(user) == expected[user]
    snapshot, running = await together("alice")
    assert (snapshot.blocked, snapshot.paid_last_day, snapshot.failed_last_hour, snapshot.amount) == \
        (False, recent.total.amount, 1, None)
    assert running is None and (await together("mallory"))[0].blocked
    monkeypatch.undo()

    experiment = Experiment.create(id="exp-1", variants=(PriceVariant("control", 50), PriceVariant(
        "cheaper", 50, unit_price=180, plan_prices=(("pro", 2500),))), catalog=DEFAULT_CATALOG, now=T0 - HOUR)
    await storage.experiments.add(experiment)
    experiment.start(T0 - HOUR)
    assert await storage.experiments.change_status(experiment, "draft")
    await storage.experiments.expose("exp-1", "alice", "cheaper", T0 - MINUTE)
    expected = {user: await separately(user) for user in users}
    no_separate_reads()
    for user in users:
        assert await together(user) == expected[user]
    assert (await together("alice"))[1].assigned_variant == "cheaper"
    _, bobs = await together("bob")
    assert (bobs.experiment.id, bobs.experiment.variants, bobs.assigned_variant) == ("exp-1", experiment.variants, None)
    monkeypatch.undo()

    experiment.stop(T0)
    assert await storage.experiments.change_status(experiment, "running")
    assert (await together("alice"))[1] is None  # a stop is seen at once


async def test_one_open_flag_per_user_and_rule(storage):
    first = a_flag("alice")
    assert await storage.risk.add_flag(first)
    assert not await storage.risk.add_flag(a_flag("alice", at=T0 + MINUTE))  # the same rule, still open
    assert await storage.risk.add_flag(a_flag("alice", RiskRule.FAILED_ATTEMPTS, at=T0 + MINUTE))
    assert await storage.risk.add_flag(a_flag("bob", at=T0 + 2 * MINUTE))

    resolved = await storage.risk.resolve_flag(first.id, "boss", "ok", T0 + HOUR, an_entry("risk_flag.resolved", first.id))
    assert (resolved.resolved_at, resolved.resolved_by, resolved.note) == (T0 + HOUR, "boss", "ok")
    assert resolved.details == first.details and resolved.rule is RiskRule.DAILY_AMOUNT
    again = await storage.risk.resolve_flag(first.id, "other", "twice", T0 + 2 * HOUR, an_entry("x", first.id))
    assert again == resolved  # once only, and not audited again
    assert [e.object_id for e in await storage.audit()] == [first.id]
    assert await storage.risk.resolve_flag("rk_missing", "boss", None, T0) is None
    assert await storage.risk.add_flag(a_flag("alice", at=T0 + 3 * HOUR))  # resolved: may flag again


async def test_flags_are_filtered_and_paged_newest_first(storage):
    made = [a_flag(f"u{i // 4}", list(RiskRule)[i % 4], at=T0 + i * MINUTE) for i in range(8)]
    for flag in made:
        assert await storage.risk.add_flag(flag)
    await storage.risk.resolve_flag(made[0].id, "boss", None, T0 + HOUR)

    items, total = await storage.risk.flags(limit=3)
    assert total == 8 and [f.id for f in items] == [f.id for f in reversed(made)][:3]
    items, total = await storage.risk.flags(page=3, limit=3)
    assert [f.id for f in items] == [made[1].id, made[0].id]
    items, total = await storage.risk.flags(user_id="u0")
    assert total == 4 and all(f.user_id == "u0" for f in items)
    items, total = await storage.risk.flags(rule=RiskRule.REFUND_ABUSE)
    assert {f.id for f in items} == {made[2].id, made[6].id}
    assert [f.id for f in (await storage.risk.flags(resolved=True))[0]] == [made[0].id]
    assert (await storage.risk.flags(resolved=False))[1] == 7
    assert [f.id for f in (await storage.risk.flags(user_id="u0", rule=RiskRule.LINKED_PAYER))[0]] == [made[3].id]
    assert (await storage.risk.flags(user_id="u9"))[1] == 0


async def test_refund_requests_of_the_window_are_counted(storage):
    paid = [a_paid_purchase("alice", at=T0 - timedelta(days=40)), a_paid_purchase("alice", at=T0 - timedelta(days=2)),
            a_paid_purchase("bob", at=T0 - timedelta(days=2))]
    await store(storage, *paid)
    requests = [
        Refund.request(id=new_id("rf"), refund_order_id=new_order_id("R"), session=t.sessions[0], amount=t.total, receives=None, ends_plan=False, reason="why",
                       requested_by=t.user_id, kind=RefundKind.REQUESTED, now=at)
        for t, at in ((paid[0], T0 - timedelta(days=35)), (paid[1], T0 - timedelta(days=1)),
                      (paid[2], T0 - timedelta(days=1)))]
    await store(storage, *requests)
    assert await storage.risk.refund_requests("alice", T0 - timedelta(days=30)) == 1
    assert await storage.risk.refund_requests("alice", T0 - timedelta(days=60)) == 2
    assert await storage.risk.refund_requests("carol", T0 - timedelta(days=60)) == 0


async def test_payer_links_are_kept_per_user_with_their_latest_time(storage):
    alice, bob = a_paid_purchase("alice", at=T0 - timedelta(days=40)), a_paid_purchase("bob", at=T0)
    await store(storage, alice, bob)
    assert await storage.risk.link_payer("h1", alice.sessions[0].order_id, T0 - timedelta(days=40)) == "alice"
    assert await storage.risk.link_payer("h1", bob.sessions[0].order_id, T0) == "bob"
    assert await storage.risk.link_payer("h1", "SNOSUCHORDER", T0) is None
    assert sorted(await storage.risk.payer_users("h1", T0 - timedelta(days=30))) == ["bob"]
    assert await storage.risk.link_payer("h1", alice.sessions[0].order_id, T0) == "alice"  # seen again: latest kept
    assert sorted(await storage.risk.payer_users("h1", T0 - timedelta(days=30))) == ["alice", "bob"]
    assert await storage.risk.payer_users("h2", T0 - timedelta(days=30)) == []


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def store_with_events(request: pytest.FixtureRequest):
    """A risk store writing `risk.flagged` with each new flag, how to read the outbox's events, and
    how to link a payer to users."""
    from domain.outbox import RISK_FLAGGED, NewEvent

    def flag_events(flag: RiskFlag) -> list[NewEvent]:
        return [NewEvent(new_id("evt"), flag.user_id, RISK_FLAGGED, flag.created_at, {"flag": flag.id})]
    if request.param == "memory":
        from adapters.memory_risk import InMemoryRiskStore
        memory = InMemoryStore()

        async def outbox():
            return [(e.type, e.user_id) for e in memory.outbox]
        yield InMemoryRiskStore(memory, flag_events), outbox, in_memory_uow_factory(memory, EventDispatcher())
        return
    from adapters.sql.database import create_database
    from adapters.sql.risk import SqlRiskStore
    from adapters.sql.unit_of_work import sql_uow_factory

    url = request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "clean_postgres_url")
    database = create_database(url, **({} if request.param == "sqlite" else {"min_size": 1, "max_size": 4}))
    await database.connect()

    async def outbox():
        rows = await database.fetch_all("SELECT type, user_id FROM outbox_events ORDER BY sequence")
        return [(r["type"], r["user_id"]) for r in rows]
    try:
        yield SqlRiskStore(database, flag_events), outbox, sql_uow_factory(database, EventDispatcher())
    finally:
        await database.disconnect()


async def test_a_new_flag_writes_its_event_with_it_and_a_refused_one_none(store_with_events):
    risk, outbox, _ = store_with_events
    assert await risk.add_flag(a_flag("alice"))
    assert not await risk.add_flag(a_flag("alice", at=T0 + MINUTE))  # still open: no flag, no event
    assert await risk.add_flag(a_flag("bob"))
    assert await outbox() == [("risk.flagged", "alice"), ("risk.flagged", "bob")]


async def test_payer_links_written_in_a_unit_of_work_commit_with_it(storage):
    async with storage.uow() as uow:
        await uow.payer_links.link("h9", "alice", T0)
        await uow.payer_links.link("h9", "bob", T0 - timedelta(days=40))
        await uow.commit()
    async with storage.uow() as uow:
        await uow.payer_links.link("h9", "carol", T0)  # rolled back: never linked
    async with storage.uow() as uow:
        await uow.payer_links.link("h9", "bob", T0 + MINUTE)  # again: the latest time kept
        await uow.commit()
    assert sorted(await storage.risk.payer_users("h9", T0 - timedelta(days=30))) == ["alice", "bob"]
    assert await storage.risk.payer_users("h9", T0 + 2 * MINUTE) == []


async def link_users(storage, payer: str, users: list[str], at) -> None:
    async with storage.uow() as uow:
        for user in users:
            await uow.payer_links.link(payer, user, at)
        await uow.commit()


async def test_a_payers_reach_is_counted_and_its_first_users_named(storage):
    await link_users(storage, "h3", [f"u{i:02}" for i in range(25)], T0)
    await link_users(storage, "h3", ["old"], T0 - timedelta(days=40))
    await link_users(storage, "h4", ["other"], T0)
    since = T0 - timedelta(days=30)
    assert await storage.risk.payer_reach("h3", since, 3) == (25, ["u00", "u01", "u02"])
    total, shown = await storage.risk.payer_reach("h3", since, 30)
    assert total == 25 and list(shown) == [f"u{i:02}" for i in range(25)]
    assert await storage.risk.payer_reach("h5", since, 3) == (0, [])


async def test_a_payers_users_are_flagged_at_once_each_once_while_open(storage):
    await link_users(storage, "h6", ["carol", "alice", "bob"], T0)
    await link_users(storage, "h6", ["old"], T0 - timedelta(days=40))
    assert await storage.risk.add_flag(a_flag("bob", RiskRule.LINKED_PAYER))  # open already: not again
    assert await storage.risk.add_flag(a_flag("alice", RiskRule.REFUND_ABUSE))  # another rule: no matter
    since = T0 - timedelta(days=30)
    template = a_flag("", RiskRule.LINKED_PAYER, at=T0 + MINUTE, payer="h6", users=["alice", "bob"], users_total=3)

    stored = await storage.risk.flag_payer_users("h6", since, template)
    assert [(f.id, f.user_id) for f in stored] == [(f"{template.id}_1", "alice"), (f"{template.id}_2", "carol")]
    assert all(f.details == template.details and f.created_at == T0 + MINUTE and not f.resolved for f in stored)
    listed, total = await storage.risk.flags(rule=RiskRule.LINKED_PAYER, resolved=False)
    assert total == 3 and {f.user_id for f in listed} == {"alice", "bob", "carol"}
    assert {f.id: f for f in listed}[f"{template.id}_2"] == stored[1]  # read back as returned

    again = a_flag("", RiskRule.LINKED_PAYER, at=T0 + HOUR, payer="h6", users=["alice"], users_total=3)
    assert await storage.risk.flag_payer_users("h6", since, again) == []  # all open: nothing
    await storage.risk.resolve_flag(stored[0].id, "boss", None, T0 + HOUR)
    assert [f.user_id for f in await storage.risk.flag_payer_users("h6", since, again)] == ["alice"]  # resolved: again
    assert await storage.risk.flag_payer_users("h7", since, again) == []  # a payer of nobody


async def test_flags_of_a_payers_users_write_their_events_with_them(store_with_events):
    risk, outbox, uow = store_with_events
    async with uow() as work:
        for user in ("carol", "bob", "alice"):
            await work.payer_links.link("h8", user, T0)
        await work.commit()
    assert await risk.add_flag(a_flag("bob", RiskRule.LINKED_PAYER))
    stored = await risk.flag_payer_users("h8", T0 - timedelta(days=30), a_flag("", RiskRule.LINKED_PAYER))
    assert [f.user_id for f in stored] == ["alice", "carol"]
    assert await risk.flag_payer_users("h8", T0 - timedelta(days=30), a_flag("", RiskRule.LINKED_PAYER)) == []
    assert await outbox() == [("risk.flagged", "bob"), ("risk.flagged", "alice"), ("risk.flagged", "carol")]


async def test_the_linked_payer_signal_flags_each_user_once_naming_the_first_twenty(storage):
    """`LinkedPayers.check` over each store: more than 3 users flags each of them once while open,
    naming the first 20 by id and counting them all; a later payment flags only the new user."""
    from adapters.ids import RandomIdGenerator
    from ports.use_cases.risk.signals import USERS_SHOWN, LinkedPayers

    payers = LinkedPayers(storage.risk, RandomIdGenerator("secret"), b"key")
    users = [f"u{i:03}" for i in range(25)]
    await link_users(storage, "h1", users[:3], T0)
    await payers.check("h1", T0)
    assert (await storage.risk.flags())[1] == 0  # 3 users: not more than 3

    await link_users(storage, "h1", users[3:], T0)
    await link_users(storage, "h1", ["old"], T0 - timedelta(days=31))  # out of the window
    await payers.check("h1", T0)
    flags, total = await storage.risk.flags(rule=RiskRule.LINKED_PAYER, limit=100)
    assert total == 25 and sorted(f.user_id for f in flags) == users
    assert all(f.details == {"payer": "h1", "users": users[:USERS_SHOWN], "users_total": 25} for f in flags)

    await link_users(storage, "h1", ["z26"], T0 + MINUTE)
    await payers.check("h1", T0 + MINUTE)
    flags, total = await storage.risk.flags(rule=RiskRule.LINKED_PAYER, limit=100)
    assert total == 26 and flags[0].user_id == "z26" and flags[0].details["users_total"] == 26
