"""The outbox in SQL (`ports.outbox`): `outbox_events` rows written inside the unit of work's
transaction (`outbox_hook`, an `in_transaction` hook of `adapters.sql.unit_of_work`) and claimed,
settled and listed by `SqlOutboxStore` outside of it (docs/events.md).

Writing: the recorder turns what the unit of work stored into events; they are inserted (one
multi-row INSERT, numbered in the order recorded) inside the unit of work's transaction, so they
commit with the change or not at all. On PostgreSQL the hook
first takes a transaction-scoped advisory lock per user it writes for: the sequence numbers of
one user's events are then taken in commit order (two concurrent units of work of one user
cannot commit their events in the other order than they were numbered, which would let the
dispatcher send the later one first). It also queues `pg_notify('payments_outbox')`, which wakes
the dispatchers of every process at commit (`adapters.sql.outbox_listener`). Inside a unit of
work the lock, the INSERT and the NOTIFY are queued with the unit of work's other writes
(`adapters.sql.batch`), so they cost no round trip of their own (three before, issue 22): the
INSERT takes its rows from `unnest(…) WITH ORDINALITY` in the order recorded, behind a one-time
filter that first takes the locks, so every sequence number is drawn under them.

Claiming: one `UPDATE … WHERE sequence IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING`: the due
pending events that are the first pending event of their user and that nobody holds, leased to a
fresh token. On SQLite (no row locks) the statement runs under the database's one writer.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.sql.connections import autocommit
from adapters.sql.context import SqlContext
from adapters.sql.database import PaymentsDatabase
from adapters.sql.statements import bind_all, prepared
from adapters.sql.tables import outbox_events
from domain.outbox import NewEvent, OutboxEvent, OutboxStatus, pending
from ports.outbox import Claimed, EventRecorder

CHANNEL = "payments_outbox"
PENDING = OutboxStatus.PENDING.value
_T = outbox_events
_COLUMNS = ("id", "user_id", "type", "body", "status", "attempts", "created_at", "next_attempt_at", "give_up_at")
_LOCK_USERS = prepared("outbox_lock_users", lambda dialect: sa.text(
    "SELECT pg_advisory_xact_lock(hashtextextended(u, 0)) FROM (SELECT unnest(:users) AS u ORDER BY 1) AS s"
).bindparams(sa.bindparam("users", type_=postgresql.ARRAY(sa.Text))))
_NOTIFY = f"SELECT pg_notify('{CHANNEL}', '')"
_TYPES = ("text", "text", "text", "text", "text", "int", "timestamptz", "timestamptz", "timestamptz")
_LOCKED_INSERT = (  # $1: the users to lock, then one array per column (see the module docstring)
    f"INSERT INTO {_T.name} ({', '.join(_COLUMNS)}) SELECT {', '.join('v.' + c for c in _COLUMNS)} "
    f"FROM unnest({', '.join(f'${n}::{t}[]' for n, t in enumerate(_TYPES, start=2))}) "
    f"WITH ORDINALITY AS v({', '.join(_COLUMNS)}, n) "
    "WHERE (SELECT count(*) FROM (SELECT pg_advisory_xact_lock(hashtextextended(u, 0)) "
    "FROM (SELECT unnest($1::text[]) AS u ORDER BY 1) AS s) AS locks) > 0 "
    "ORDER BY v.n RETURNING 1")
_OUTBOX_PART = "outbox events"  # the batch's key for a queued INSERT of events: one at a time


def outbox_hook(recorder: EventRecorder) -> Callable[[SqlContext], Any]:
    """The `in_transaction` hook writing the events `recorder` makes of the unit of work's changes."""

    async def write_recorded(context: SqlContext) -> None:
        await write_events(context, recorder(context.touched, context.recorded_events()))

    return write_recorded


async def write_events(context: SqlContext, recorded: list[NewEvent]) -> None:
    """Insert `recorded` inside the transaction of `context` (the unit of work's, or a store's own
    short one: e.g. a risk flag written outside any unit of work can send its `risk.flagged` this
    way, built by `entrypoints.event_payloads.event`)."""
    if not recorded:
        return
    if context.batch is not None:  # PostgreSQL in a transaction: queued with the other writes
        await _queue_events(context, recorded)
        return
    if context.executor.name == "postgresql":
        await context.run(_LOCK_USERS, users=sorted({e.user_id for e in recorded}))
    rows = [{name: _value(getattr(event, name)) for name in _COLUMNS} for event in map(pending, recorded)]
    # One multi-row INSERT, not queued with the batch's other writes (whose CTEs run in no set
    # order): the rows take their sequence numbers in the order the events were recorded.
    await context.execute(_T.insert().values(rows))
    if context.batch is not None:
        context.batch.add(_NOTIFY, [], check=_any_count)
    elif context.executor.name == "postgresql":
        await context.execute(sa.text(_NOTIFY))


async def _queue_events(context: SqlContext, recorded: list[NewEvent]) -> None:
    if context.batch.holds(_OUTBOX_PART):  # two queued INSERTs would draw their numbers in no set order
        await context.flush()
    events = list(map(pending, recorded))
    columns = [[_value(getattr(event, name)) for event in events] for name in _COLUMNS]
    expected = len(events)

    def all_stored(count: int) -> None:
        if count != expected:
            raise RuntimeError(f"the outbox stored {count} of {expected} events")

    context.batch.add(_LOCKED_INSERT, [sorted({e.user_id for e in events}), *columns], key=_OUTBOX_PART,
                      check=all_stored)
    context.batch.add(_NOTIFY, [], check=_any_count)


def _value(value: Any) -> Any:
    return value.value if isinstance(value, OutboxStatus) else value


def _any_count(count: int) -> None:
    """pg_notify answers one row; there is nothing to check."""


def _event(row: Any) -> OutboxEvent:
    return OutboxEvent(id=row["id"], user_id=row["user_id"], type=row["type"], body=row["body"],
                       status=OutboxStatus(row["status"]), attempts=row["attempts"], created_at=row["created_at"],
                       next_attempt_at=row["next_attempt_at"], give_up_at=row["give_up_at"],
                       delivered_at=row["delivered_at"], last_error=row["last_error"], sequence=row["sequence"])


def _claim(dialect):
    e, earlier = _T.alias("e"), _T.alias("p")
    now = sa.bindparam("now", type_=_T.c.next_attempt_at.type)
    blocked = sa.exists().where(earlier.c.user_id == e.c.user_id, earlier.c.status == PENDING,
                                earlier.c.sequence < e.c.sequence)
    due = (sa.select(e.c.sequence)
           .where(e.c.status == PENDING, e.c.next_attempt_at <= now,
                  sa.or_(e.c.claimed_until.is_(None), e.c.claimed_until <= now), ~blocked)
           .order_by(e.c.sequence).limit(sa.bindparam("limit", type_=sa.Integer)))
    due = dialect.locked(due, of=e, skip_locked=True)
    return (_T.update().where(_T.c.sequence.in_(due))
            .values(claim_token=sa.bindparam("token"), claimed_until=sa.bindparam("until", type_=_T.c.claimed_until.type))
            .returning(*_T.c))


_CLAIM = prepared("outbox_claim", _claim)


def _settle(name: str, columns: tuple[str, ...]):
    def build(dialect):
        return (_T.update()
                .where(_T.c.id == sa.bindparam("event_id"), _T.c.claim_token == sa.bindparam("token"),
                       _T.c.status == PENDING)
                .values(claim_token=None, claimed_until=None, attempts=_T.c.attempts + 1, **bind_all(columns))
                .returning(_T.c.sequence))
    return prepared(("outbox_settle", name), build)


_DELIVERED = _settle("delivered", ("status", "delivered_at", "last_error"))
_RETRY = _settle("retry", ("next_attempt_at", "last_error"))
_FAILED = _settle("failed", ("status", "last_error"))
_REDELIVER = prepared("outbox_redeliver", lambda dialect: (
    _T.update().where(_T.c.id == sa.bindparam("event_id"))
    .values(status=PENDING, next_attempt_at=sa.bindparam("now", type_=_T.c.next_attempt_at.type),
            give_up_at=sa.bindparam("give_up_at", type_=_T.c.give_up_at.type), delivered_at=None,
            claim_token=None, claimed_until=None)
    .returning(*_T.c)))
_GET = prepared("outbox_get", lambda dialect: sa.select(_T).where(_T.c.id == sa.bindparam("event_id")))


class SqlOutboxStore:
    """`ports.outbox.OutboxStore` over `outbox_events` (see the module docstring)."""

    def __init__(self, database: PaymentsDatabase) -> None:
        self._database = database

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
        token = secrets.token_hex(16)
        async with autocommit(self._database) as db:
            rows = await db.all(_CLAIM, now=now, limit=limit, token=token, until=now + lease)
        return [Claimed(_event(row), token) for row in sorted(rows, key=lambda row: row["sequence"])]

    async def _settle(self, statement: Any, claim: Claimed, **values: Any) -> bool:
        async with autocommit(self._database) as db:
            return await db.one(statement, event_id=claim.event.id, token=claim.token, **values) is not None

    async def delivered(self, claim: Claimed, now: datetime) -> bool:
        return await self._settle(_DELIVERED, claim, status=OutboxStatus.DELIVERED.value, delivered_at=now,
                                  last_error=None)

    async def retry_at(self, claim: Claimed, when: datetime, error: str, now: datetime) -> bool:
        return await self._settle(_RETRY, claim, next_attempt_at=when, last_error=error)

    async def failed(self, claim: Claimed, error: str, now: datetime) -> bool:
        return await self._settle(_FAILED, claim, status=OutboxStatus.FAILED.value, last_error=error)

    async def page(self, status: OutboxStatus | None, page: int, limit: int) -> tuple[list[OutboxEvent], int]:
        where = [] if status is None else [_T.c.status == status.value]
        query = sa.select(_T).where(*where).order_by(_T.c.sequence.desc()).limit(limit).offset((page - 1) * limit)
        async with autocommit(self._database) as db:
            rows = await db.fetch_all(query)
            total = await db.fetch_val(sa.select(sa.func.count()).select_from(_T).where(*where))
        return [_event(row) for row in rows], int(total)

    async def get(self, event_id: str) -> OutboxEvent | None:
        async with autocommit(self._database) as db:
            row = await db.one(_GET, event_id=event_id)
        return None if row is None else _event(row)

    async def redeliver(self, event_id: str, now: datetime, give_up_at: datetime) -> OutboxEvent | None:
        async with autocommit(self._database) as db:
            row = await db.one(_REDELIVER, event_id=event_id, now=now, give_up_at=give_up_at)
        return None if row is None else _event(row)
