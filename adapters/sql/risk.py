"""The risk store on PostgreSQL and SQLite (`ports.risk.RiskStore`).

`snapshot`, before every payment, is one statement of four scalar subqueries (blocked?, paid in
the last 24 h, failed or expired attempts in the last hour, the amount of the transaction being
paid again), each an index range scan of one user's recent rows (revision 0012's indexes).
`snapshot_and_running` reads the same facts and the running price experiment with the user's
assignment (`adapters.sql.experiments`) in one statement: the purchase's reads before it writes.
Writes are single statements (a flag is `INSERT … ON CONFLICT DO NOTHING` against the unique
index of open flags), or short transactions when an audit entry or a `risk.flagged` event (the
outbox, when events to the main backend are on) goes with the change.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime

import sqlalchemy as sa
from databases import Database

from adapters.sql import experiments, mapping
from adapters.sql.connections import autocommit, database_transaction
from adapters.sql.outbox import write_events
from adapters.sql.repositories.audit_log import SqlAuditLogRepository
from adapters.sql.statements import prepared
from adapters.sql.tables import (payment_refunds, payment_sessions, price_experiments, risk_blocks, risk_flags,
                                 risk_payers, transactions)
from domain.audit import AuditEntry
from domain.outbox import NewEvent
from domain.risk import RiskFlag, RiskRule, RiskSnapshot
from ports.experiments import ExperimentStore, RunningExperiment

PAID = ("succeeded", "refunded", "partially_refunded")
UNPAID_ENDS = ("failed", "expired")
_F, _B, _P, _T, _S = risk_flags, risk_blocks, risk_payers, transactions, payment_sessions


def _constants(values: tuple[str, ...]) -> list:
    """Constants written into the SQL (a bound IN list would need its values at every call)."""
    return [sa.literal_column(f"'{value}'") for value in values]


def _user():  # a bind parameter of its own per use, all named user_id
    return sa.bindparam("user_id", type_=sa.String)


def _facts() -> list:
    """blocked?, paid since `paid_since`, failed since `failed_since`: scalar subqueries of one user."""
    blocked = sa.exists().where(_B.c.user_id == _user())
    paid = (sa.select(sa.func.coalesce(sa.func.sum(_T.c.total_minor), 0))
            .where(_T.c.user_id == _user(), _T.c.completed_at.is_not(None),
                   _T.c.completed_at >= sa.bindparam("paid_since"), _T.c.status.in_(_constants(PAID))).scalar_subquery())
    failed = (sa.select(sa.func.count())
              .where(_S.c.user_id == _user(), _S.c.status.in_(_constants(UNPAID_ENDS)),
                     _S.c.updated_at >= sa.bindparam("failed_since")).scalar_subquery())
    return [blocked.label("blocked"), paid.label("paid"), failed.label("failed")]


def _snapshot(dialect):
    amount = (sa.select(_T.c.total_minor)
              .where(_T.c.id == sa.bindparam("transaction_id"), _T.c.user_id == _user()).scalar_subquery())
    return sa.select(*_facts(), amount.label("amount"))


def _snapshot_and_running(dialect):
    """The facts and the running experiment with the user's assignment, in one row: a one-row
    relation left-joined to the running experiment (at most one: a partial unique index), so the
    experiment's columns are NULL when none runs."""
    one = sa.select(sa.literal_column("1").label("one")).subquery("one")
    running = experiments.with_assignment(one.outerjoin(price_experiments, experiments.is_running()))
    return sa.select(*_facts(), *experiments.RUNNING_COLUMNS).select_from(running)


_SNAPSHOT = prepared("risk_snapshot", _snapshot)
_SNAPSHOT_AND_RUNNING = prepared("risk_snapshot_and_running", _snapshot_and_running)
_ADD_FLAG = prepared("risk_add_flag", lambda dialect: dialect.insert(_F).values(
    id=sa.bindparam("id"), user_id=sa.bindparam("user_id"), rule=sa.bindparam("rule"),
    details=sa.bindparam("details"), created_at=sa.bindparam("created_at")).on_conflict_do_nothing().returning(_F.c.id))
_RESOLVE = prepared("risk_resolve_flag", lambda dialect: (
    _F.update().where(_F.c.id == sa.bindparam("flag_id"), _F.c.resolved_at.is_(None))
    .values(resolved_at=sa.bindparam("now"), resolved_by=sa.bindparam("by"), note=sa.bindparam("note"))
    .returning(*_F.c)))
_FLAG = prepared("risk_flag", lambda dialect: sa.select(*_F.c).where(_F.c.id == sa.bindparam("flag_id")))
_UNBLOCK = prepared("risk_unblock", lambda dialect: _B.delete().where(_B.c.user_id == sa.bindparam("user_id")))


def _block(dialect):
    insert = dialect.insert(_B).values(user_id=sa.bindparam("user_id"), reason=sa.bindparam("reason"),
                                       blocked_by=sa.bindparam("by"), blocked_at=sa.bindparam("now"))
    return insert.on_conflict_do_update(index_elements=[_B.c.user_id], set_={
        "reason": insert.excluded.reason, "blocked_by": insert.excluded.blocked_by,
        "blocked_at": insert.excluded.blocked_at})


_BLOCK = prepared("risk_block", _block)
_REFUND_REQUESTS = prepared("risk_refund_requests", lambda dialect: sa.select(sa.func.count()).where(
    payment_refunds.c.user_id == sa.bindparam("user_id"), payment_refunds.c.kind == "requested",
    payment_refunds.c.created_at >= sa.bindparam("since")))


def _link_payer(dialect):
    found = sa.select(sa.bindparam("payer_hash", type_=sa.String), _S.c.user_id,
                      sa.bindparam("now", type_=_P.c.last_paid_at.type)).where(_S.c.order_id == sa.bindparam("order_id"))
    insert = dialect.insert(_P).from_select(["payer_hash", "user_id", "last_paid_at"], found)
    return insert.on_conflict_do_update(index_elements=[_P.c.payer_hash, _P.c.user_id],
                                        set_={"last_paid_at": insert.excluded.last_paid_at}).returning(_P.c.user_id)


_LINK_PAYER = prepared("risk_link_payer", _link_payer)
_PAYER_USERS = prepared("risk_payer_users", lambda dialect: sa.select(_P.c.user_id).where(
    _P.c.payer_hash == sa.bindparam("payer_hash"), _P.c.last_paid_at >= sa.bindparam("since")))


def _payer_reach(dialect):
    """The payer's first users by id (LIMIT `shown`), each row carrying how many there are in all."""
    return (sa.select(_P.c.user_id, sa.func.count().over().label("total"))
            .where(_P.c.payer_hash == sa.bindparam("payer_hash"), _P.c.last_paid_at >= sa.bindparam("since"))
            .order_by(_P.c.user_id).limit(sa.bindparam("shown", type_=sa.Integer)))


def _flag_payer_users(dialect):
    """One flag per user of the payer with no open flag of the rule, in one statement: the ids are
    `id_base` and the row's number, the rest the same for all; only the new rows come back."""
    def bound(name, column):
        return sa.bindparam(name, type_=column.type)
    open_flag = sa.exists().where(_F.c.user_id == _P.c.user_id, _F.c.rule == sa.bindparam("rule"),
                                  _F.c.resolved_at.is_(None))
    number = sa.cast(sa.func.row_number().over(order_by=_P.c.user_id), sa.String)
    rows = sa.select((sa.bindparam("id_base", type_=sa.String) + number).label("id"), _P.c.user_id,
                     bound("rule", _F.c.rule), bound("details", _F.c.details),
                     bound("created_at", _F.c.created_at)).where(
        _P.c.payer_hash == sa.bindparam("payer_hash"), _P.c.last_paid_at >= sa.bindparam("since"), ~open_flag)
    insert = dialect.insert(_F).from_select(["id", "user_id", "rule", "details", "created_at"], rows)
    return insert.on_conflict_do_nothing().returning(*_F.c)


_PAYER_REACH = prepared("risk_payer_reach", _payer_reach)
_FLAG_PAYER_USERS = prepared("risk_flag_payer_users", _flag_payer_users)


def _flag_from_row(row) -> RiskFlag:
    return RiskFlag(id=row["id"], user_id=row["user_id"], rule=RiskRule(row["rule"]), details=json.loads(row["details"]),
                    created_at=mapping.as_utc(row["created_at"]),
                    resolved_at=mapping.as_utc(row["resolved_at"]) if row["resolved_at"] is not None else None,
                    resolved_by=row["resolved_by"], note=row["note"])


class SqlRiskStore:
    """`flag_events`, when events to the main backend are on: the `risk.flagged` events of a new
    flag, written in the flag's own transaction (the outbox)."""

    def __init__(self, database: Database, flag_events: Callable[[RiskFlag], list[NewEvent]] | None = None) -> None:
        self._database = database
        self._flag_events = flag_events

    async def snapshot(self, user_id: str, *, paid_since: datetime, failed_since: datetime,
                       transaction_id: str | None = None) -> RiskSnapshot:
        async with autocommit(self._database) as db:
            row = await db.one(_SNAPSHOT, user_id=user_id, paid_since=paid_since, failed_since=failed_since,
                               transaction_id=transaction_id)
        assert row is not None
        return RiskSnapshot(blocked=bool(row["blocked"]), paid_last_day=int(row["paid"]),
                            failed_last_hour=int(row["failed"]),
                            amount=int(row["amount"]) if row["amount"] is not None else None)

    async def snapshot_and_running(self, experiments_store: ExperimentStore, user_id: str, *, paid_since: datetime,
                                   failed_since: datetime) -> tuple[RiskSnapshot, RunningExperiment | None]:
        if not (isinstance(experiments_store, experiments.SqlExperimentStore)
                and experiments_store.database is self._database):
            return (await self.snapshot(user_id, paid_since=paid_since, failed_since=failed_since),
                    await experiments_store.running(user_id))
        async with autocommit(self._database) as db:
            row = await db.one(_SNAPSHOT_AND_RUNNING, user_id=user_id, paid_since=paid_since,
                               failed_since=failed_since)
        assert row is not None
        return (RiskSnapshot(blocked=bool(row["blocked"]), paid_last_day=int(row["paid"]),
                             failed_last_hour=int(row["failed"])),
                experiments.running_from_row(row))

    async def add_flag(self, flag: RiskFlag) -> bool:
        values = dict(id=flag.id, user_id=flag.user_id, rule=flag.rule.value, created_at=flag.created_at,
                      details=json.dumps(dict(flag.details), sort_keys=True, separators=(",", ":")))
        if self._flag_events is None:
            async with autocommit(self._database) as db:
                return await db.one(_ADD_FLAG, **values) is not None
        async with database_transaction(self._database) as db:
            if await db.one(_ADD_FLAG, **values) is None:
                return False
            await write_events(db, self._flag_events(flag))
        return True

    async def flags(self, *, user_id: str | None = None, rule: RiskRule | None = None,
                    resolved: bool | None = None, page: int = 1, limit: int = 20) -> tuple[Sequence[RiskFlag], int]:
        conditions = []
        if user_id is not None:
            conditions.append(_F.c.user_id == user_id)
        if rule is not None:
            conditions.append(_F.c.rule == rule.value)
        if resolved is not None:
            conditions.append(_F.c.resolved_at.is_not(None) if resolved else _F.c.resolved_at.is_(None))
        query = (sa.select(*_F.c).where(*conditions).order_by(_F.c.created_at.desc(), _F.c.id.desc())
                 .limit(limit).offset((page - 1) * limit))
        count = sa.select(sa.func.count()).select_from(_F).where(*conditions)
        async with autocommit(self._database) as db:
            rows = await db.executor.fetch_all(query)
            total = (await db.executor.fetch_one(count))[0]
        return [_flag_from_row(row) for row in rows], int(total)

    async def resolve_flag(self, flag_id: str, by: str, note: str | None, now: datetime,
                           audit: AuditEntry | None = None) -> RiskFlag | None:
        async with database_transaction(self._database) as db:
            row = await db.one(_RESOLVE, flag_id=flag_id, now=now, by=by, note=note)
            if row is None:
                found = await db.one(_FLAG, flag_id=flag_id)
                return _flag_from_row(found) if found is not None else None
            if audit is not None:
                await SqlAuditLogRepository(db).add(audit)
                await db.flush()
        return _flag_from_row(row)

    async def set_blocked(self, user_id: str, blocked: bool, *, reason: str | None, by: str, now: datetime,
                          audit: AuditEntry | None = None) -> None:
        async with database_transaction(self._database) as db:
            if blocked:
                await db.run(_BLOCK, user_id=user_id, reason=reason, by=by, now=now)
            else:
                await db.run(_UNBLOCK, user_id=user_id)
            if audit is not None:
                await SqlAuditLogRepository(db).add(audit)
                await db.flush()

    async def refund_requests(self, user_id: str, since: datetime) -> int:
        async with autocommit(self._database) as db:
            return int(await db.value(_REFUND_REQUESTS, user_id=user_id, since=since))

    async def link_payer(self, payer_hash: str, order_id: str, now: datetime) -> str | None:
        async with autocommit(self._database) as db:
            row = await db.one(_LINK_PAYER, payer_hash=payer_hash, order_id=order_id, now=now)
        return None if row is None else row["user_id"]

    async def payer_users(self, payer_hash: str, since: datetime) -> Sequence[str]:
        async with autocommit(self._database) as db:
            rows = await db.all(_PAYER_USERS, payer_hash=payer_hash, since=since)
        return [row["user_id"] for row in rows]

    async def payer_reach(self, payer_hash: str, since: datetime, shown: int) -> tuple[int, Sequence[str]]:
        async with autocommit(self._database) as db:
            rows = await db.all(_PAYER_REACH, payer_hash=payer_hash, since=since, shown=shown)
        return (int(rows[0]["total"]) if rows else 0), [row["user_id"] for row in rows]

    async def flag_payer_users(self, payer_hash: str, since: datetime, flag: RiskFlag) -> Sequence[RiskFlag]:
        values = dict(payer_hash=payer_hash, since=since, id_base=f"{flag.id}_", rule=flag.rule.value,
                      created_at=flag.created_at,
                      details=json.dumps(dict(flag.details), sort_keys=True, separators=(",", ":")))
        if self._flag_events is None:
            async with autocommit(self._database) as db:
                rows = await db.all(_FLAG_PAYER_USERS, **values)
            return sorted(map(_flag_from_row, rows), key=lambda f: f.user_id)
        async with database_transaction(self._database) as db:
            stored = sorted(map(_flag_from_row, await db.all(_FLAG_PAYER_USERS, **values)), key=lambda f: f.user_id)
            await write_events(db, [event for new in stored for event in self._flag_events(new)])
        return stored
