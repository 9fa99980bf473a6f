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

Settling and claiming: on PostgreSQL one statement (`_SETTLE_AND_CLAIM`): a data-modifying CTE
settles the attempts that ended (`UPDATE … FROM unnest(…)`, each row only while its claim token
is still the caller's), and a second one claims, `UPDATE … WHERE sequence IN (SELECT … FOR UPDATE
SKIP LOCKED) RETURNING`, the due pending events that are the first pending event of their user
and that nobody holds, leased to a fresh token. On SQLite (no row locks, no data-modifying CTEs)
the settles and the claim (`_SETTLE`, `_CLAIM`) run in one transaction under its one writer.

Purging (`_PURGE`, the retention of docs/events.md): one `DELETE … WHERE sequence IN (SELECT …
LIMIT n FOR UPDATE SKIP LOCKED) RETURNING` per batch, in autocommit. Only delivered and failed
rows (`FOR UPDATE` re-checks the status of a row changed meanwhile, e.g. redelivered: it is left
alone), and never the newest row: SQLite numbers a new row max(rowid) + 1, so deleting the
highest number would hand it out again (PostgreSQL's identity never goes back; the rule costs it
one index probe). The delivered ones are found by `ix_outbox_events_delivered` (revision 0017),
the failed ones by `ix_outbox_events_status`.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from adapters.sql.connections import autocommit, database_transaction
from adapters.sql.context import SqlContext
from adapters.sql.database import PaymentsDatabase, dialect_of
from adapters.sql.statements import prepared
from adapters.sql.tables import outbox_events
from domain.outbox import NewEvent, OutboxEvent, OutboxStatus, pending
from ports.outbox import Claimed, EventRecorder, Outcome, Settled

CHANNEL = "payments_outbox"
PENDING, DELIVERED, FAILED = OutboxStatus.PENDING.value, OutboxStatus.DELIVERED.value, OutboxStatus.FAILED.value
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


# Settling: what an `Outcome` sets (`delivered_at` and `next_attempt_at` only when given), while
# the claim is the caller's. SQLite runs it once per outcome and then `_CLAIM`, in one transaction.
_SETTLE = prepared("outbox_settle", lambda dialect: (
    _T.update()
    .where(_T.c.id == sa.bindparam("event_id"), _T.c.claim_token == sa.bindparam("token"), _T.c.status == PENDING)
    .values(claim_token=None, claimed_until=None, attempts=_T.c.attempts + 1, status=sa.bindparam("status"),
            last_error=sa.bindparam("last_error", type_=sa.Text),
            delivered_at=sa.func.coalesce(sa.bindparam("delivered_at", type_=_T.c.delivered_at.type),
                                          _T.c.delivered_at),
            next_attempt_at=sa.func.coalesce(sa.bindparam("next_attempt_at", type_=_T.c.next_attempt_at.type),
                                             _T.c.next_attempt_at))
    .returning(_T.c.sequence)))
_TEXTS, _TIMES = postgresql.ARRAY(sa.Text), postgresql.ARRAY(sa.DateTime(timezone=True))
# PostgreSQL settles the outcomes and claims in one statement. Its parts see the same snapshot, so
# the claim would still see the events just settled as pending: it leaves them out, and does not
# count those now delivered or failed as holding their user's next event back.
_SETTLE_AND_CLAIM = prepared("outbox_settle_and_claim", lambda dialect: sa.text(f"""WITH settled AS (
  UPDATE {_T.name} AS o SET status = v.status, last_error = v.last_error,
    delivered_at = coalesce(v.delivered_at, o.delivered_at),
    next_attempt_at = coalesce(v.next_attempt_at, o.next_attempt_at),
    attempts = o.attempts + 1, claim_token = NULL, claimed_until = NULL
  FROM unnest(:ids, :tokens, :statuses, :errors, :delivered, :retry)
    AS v(id, token, status, last_error, delivered_at, next_attempt_at)
  WHERE o.id = v.id AND o.claim_token = v.token AND o.status = '{PENDING}'
  RETURNING o.id, o.sequence, o.status),
claimed AS (
  UPDATE {_T.name} SET claim_token = :token, claimed_until = :until
  WHERE sequence IN (
    SELECT e.sequence FROM {_T.name} AS e
    WHERE e.status = '{PENDING}' AND e.next_attempt_at <= :now
      AND (e.claimed_until IS NULL OR e.claimed_until <= :now)
      AND e.sequence NOT IN (SELECT sequence FROM settled)
      AND NOT EXISTS (
        SELECT 1 FROM {_T.name} AS p
        WHERE p.user_id = e.user_id AND p.status = '{PENDING}' AND p.sequence < e.sequence
          AND p.sequence NOT IN (SELECT sequence FROM settled WHERE status <> '{PENDING}'))
    ORDER BY e.sequence LIMIT :limit FOR UPDATE OF e SKIP LOCKED)
  RETURNING *)
SELECT s.settled_ids, c.* FROM (SELECT array_agg(id) AS settled_ids FROM settled) AS s
LEFT JOIN claimed AS c ON true""").bindparams(
    *(sa.bindparam(name, type_=_TEXTS) for name in ("ids", "tokens", "statuses", "errors")),
    *(sa.bindparam(name, type_=_TIMES) for name in ("delivered", "retry")),
    sa.bindparam("token", type_=sa.Text), sa.bindparam("until", type_=_T.c.claimed_until.type),
    sa.bindparam("now", type_=_T.c.next_attempt_at.type), sa.bindparam("limit", type_=sa.Integer)))
_REDELIVER = prepared("outbox_redeliver", lambda dialect: (
    _T.update().where(_T.c.id == sa.bindparam("event_id"))
    .values(status=PENDING, next_attempt_at=sa.bindparam("now", type_=_T.c.next_attempt_at.type),
            give_up_at=sa.bindparam("give_up_at", type_=_T.c.give_up_at.type), delivered_at=None,
            claim_token=None, claimed_until=None)
    .returning(*_T.c)))


def _purge(dialect):
    e, newest = _T.alias("e"), _T.alias("n")
    before = sa.bindparam("before", type_=_T.c.delivered_at.type)
    # The statuses in the SQL, not bound: only then may the planner use a partial index.
    delivered, failed = (sa.literal_column(f"'{status}'") for status in (DELIVERED, FAILED))
    # SQLite gets `+sequence` (no index for that term): else it walks the rowid range, the whole
    # table when nothing is old enough, instead of the two indexes.
    sequence = sa.literal_column("+e.sequence") if dialect.name == "sqlite" else e.c.sequence
    old = (sa.select(e.c.sequence)
           .where(sa.or_(sa.and_(e.c.status == delivered, e.c.delivered_at < before),
                         sa.and_(e.c.status == failed, e.c.give_up_at < before)),
                  sequence < sa.select(sa.func.max(newest.c.sequence)).scalar_subquery())
           .limit(sa.bindparam("limit", type_=sa.Integer)))
    return _T.delete().where(_T.c.sequence.in_(dialect.locked(old, of=e, skip_locked=True))).returning(_T.c.sequence)


_PURGE = prepared("outbox_purge", _purge, relaxed_commit=True)  # a purge lost in a crash is done again
_GET = prepared("outbox_get", lambda dialect: sa.select(_T).where(_T.c.id == sa.bindparam("event_id")))


def _settle(outcome: Outcome) -> dict[str, Any]:
    return {"event_id": outcome.claim.event.id, "token": outcome.claim.token, "status": outcome.status.value,
            "last_error": outcome.error, "delivered_at": outcome.delivered_at,
            "next_attempt_at": outcome.next_attempt_at}


def _arrays(outcomes: Sequence[Outcome]) -> dict[str, list[Any]]:
    """The outcomes as the columns `_SETTLE_AND_CLAIM` unnests."""
    return {"ids": [o.claim.event.id for o in outcomes], "tokens": [o.claim.token for o in outcomes],
            "statuses": [o.status.value for o in outcomes], "errors": [o.error for o in outcomes],
            "delivered": [o.delivered_at for o in outcomes], "retry": [o.next_attempt_at for o in outcomes]}


class SqlOutboxStore:
    """`ports.outbox.OutboxStore` over `outbox_events` (see the module docstring)."""

    def __init__(self, database: PaymentsDatabase) -> None:
        self._database = database

    async def claim_due(self, now: datetime, limit: int, lease: timedelta) -> list[Claimed]:
        return (await self.settle_and_claim((), now, limit, lease)).claimed

    async def settle_and_claim(self, outcomes: Sequence[Outcome], now: datetime, limit: int,
                               lease: timedelta) -> Settled:
        token, until = secrets.token_hex(16), now + lease
        if dialect_of(self._database) == "postgresql":
            async with autocommit(self._database) as db:
                rows = await db.all(_SETTLE_AND_CLAIM, **_arrays(outcomes), now=now, limit=limit, token=token,
                                    until=until)
            settled = frozenset(rows[0]["settled_ids"] or ())
            rows = [row for row in rows if row["sequence"] is not None]
        else:
            async with database_transaction(self._database) as db:
                settled = frozenset([o.claim.event.id for o in outcomes if await db.one(_SETTLE, **_settle(o))])
                rows = await db.all(_CLAIM, now=now, limit=limit, token=token, until=until) if limit else []
        return Settled(settled, [Claimed(_event(row), token) for row in sorted(rows, key=lambda row: row["sequence"])])

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

    async def purge_settled(self, before: datetime, limit: int) -> int:
        async with autocommit(self._database) as db:
            return len(await db.all(_PURGE, before=before, limit=limit))
