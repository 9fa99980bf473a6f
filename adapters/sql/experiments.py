"""The price experiment store on PostgreSQL and SQLite (`ports.experiments.ExperimentStore`).

- `running(user)`, on the purchase path, is one statement: the running experiment (the partial
  unique index of `status = 'running'` holds at most one row) left-joined to the user's assignment
  (a primary-key lookup). Experiments never change once created but for their status, so a
  definition's parsed variants are kept per process by id.
  `SqlRiskStore.snapshot_and_running` reads the same columns with the risk gate's facts, in one
  statement (the purchase's reads before it writes).
- `expose` is `INSERT … ON CONFLICT DO NOTHING` on the assignment's primary key: the first
  exposure is stored once, whatever requests race.
- A start is a compare-and-set `UPDATE … WHERE status = 'draft'`; the partial unique index
  refuses a second running experiment, so two starts at once cannot both win.
- `counts` is one grouped statement over the assignments and the transactions they priced.
"""
from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from adapters.sql import mapping
from adapters.sql.connections import autocommit, database_transaction
from adapters.sql.database import PaymentsDatabase
from adapters.sql.repositories.audit_log import SqlAuditLogRepository
from adapters.sql.statements import prepared
from adapters.sql.tables import price_assignments, price_experiments, transactions
from domain.audit import AuditEntry
from domain.catalog import DiscountTier
from domain.experiment import Experiment, ExperimentStatus, PriceVariant
from domain.experiment_results import VariantCounts
from ports.experiments import AnotherExperimentRunningError, ExperimentExistsError, RunningExperiment

_E, _A, _T = price_experiments, price_assignments, transactions
PAID = ("succeeded", "partially_refunded", "refunded")
RUNNING = ExperimentStatus.RUNNING.value


def variants_to_json(variants: Sequence[PriceVariant]) -> str:
    """The variants as the API writes them: `{"id", "weight", "receives": {"unit_price", "tiers"},
    "plans": {plan: price}}`, naming only what a variant overrides."""
    return json.dumps([variant_document(v) for v in variants], separators=(",", ":"))


def variant_document(variant: PriceVariant) -> dict[str, Any]:
    receives: dict[str, Any] = {}
    if variant.unit_price is not None:
        receives["unit_price"] = variant.unit_price
    if variant.tiers is not None:
        receives["tiers"] = [{"min_amount": t.min_quantity, "discount_percent": t.discount_percent}
                             for t in variant.tiers]
    return {"id": variant.id, "weight": variant.weight, "receives": receives, "plans": dict(variant.plan_prices)}


def variants_from_json(text: str) -> tuple[PriceVariant, ...]:
    found = []
    for item in json.loads(text):
        receives = item.get("receives") or {}
        tiers = receives.get("tiers")
        found.append(PriceVariant(
            id=item["id"], weight=item["weight"], unit_price=receives.get("unit_price"),
            tiers=None if tiers is None else tuple(DiscountTier(t["min_amount"], t["discount_percent"]) for t in tiers),
            plan_prices=tuple((plan, price) for plan, price in (item.get("plans") or {}).items())))
    return tuple(found)


_VARIANTS: dict[tuple[str, str], tuple[PriceVariant, ...]] = {}  # (id, JSON) -> parsed: definitions never change


def _experiment(row: Any, variants_column: str = "variants") -> Experiment:
    key = (row["id"], row[variants_column])
    variants = _VARIANTS.get(key)
    if variants is None:
        variants = _VARIANTS[key] = variants_from_json(row[variants_column])
    return Experiment(id=row["id"], status=ExperimentStatus(row["status"]), variants=variants,
                      created_at=mapping.as_utc(row["created_at"]), started_at=mapping.as_utc(row["started_at"]),
                      stopped_at=mapping.as_utc(row["stopped_at"]))


_ADD = prepared("experiment_add", lambda dialect: dialect.insert(_E).values(
    id=sa.bindparam("id"), status=sa.bindparam("status"), variants=sa.bindparam("variants"),
    created_at=sa.bindparam("created_at")).on_conflict_do_nothing().returning(_E.c.id))
_GET = prepared("experiment_get", lambda dialect: sa.select(*_E.c).where(_E.c.id == sa.bindparam("id")))
RUNNING_COLUMNS = (*_E.c, _A.c.variant_id.label("assigned_variant"))  # what `running_from_row` reads


def with_assignment(joined: Any) -> Any:
    """`joined` (the experiments table, or a join holding it) left-joined to the assignment of the
    user bound as `user_id`."""
    return joined.outerjoin(_A, sa.and_(_A.c.experiment_id == _E.c.id, _A.c.user_id == sa.bindparam("user_id")))


def is_running() -> Any:
    return _E.c.status == sa.literal_column(f"'{RUNNING}'")


def running_from_row(row: Any) -> RunningExperiment | None:
    """The `RUNNING_COLUMNS` of a row as the store's `running` answers (None: no experiment)."""
    return None if row["id"] is None else RunningExperiment(_experiment(row), row["assigned_variant"])


_RUNNING = prepared("experiment_running", lambda dialect: (
    sa.select(*RUNNING_COLUMNS).select_from(with_assignment(_E)).where(is_running())))
_EXPOSE = prepared("experiment_expose", lambda dialect: dialect.insert(_A).values(
    experiment_id=sa.bindparam("experiment_id"), user_id=sa.bindparam("user_id"),
    variant_id=sa.bindparam("variant_id"), exposed_at=sa.bindparam("now")).on_conflict_do_nothing())
_ANOTHER_RUNNING = prepared("experiment_another_running", lambda dialect: sa.select(sa.exists().where(
    _E.c.status == sa.literal_column(f"'{RUNNING}'"), _E.c.id != sa.bindparam("id"))))


def _change_status(dialect):
    return (_E.update().where(_E.c.id == sa.bindparam("id"), _E.c.status == sa.bindparam("previous"))
            .values(status=sa.bindparam("status"), started_at=sa.bindparam("started_at"),
                    stopped_at=sa.bindparam("stopped_at")).returning(_E.c.id))


_CHANGE_STATUS = prepared("experiment_change_status", _change_status)


def _counts(dialect):
    paid = sa.and_(_T.c.user_id == _A.c.user_id,
                   _T.c.status.in_([sa.literal_column(f"'{s}'") for s in PAID]),
                   _T.c.total_minor > 0, _T.c.completed_at >= _A.c.exposed_at)
    return (sa.select(_A.c.variant_id, sa.func.count(sa.distinct(_A.c.user_id)).label("exposed"),
                      sa.func.count(sa.distinct(_T.c.user_id)).label("paying"),
                      sa.func.coalesce(sa.func.sum(_T.c.total_minor), 0).label("gross"))
            .select_from(_A.outerjoin(_T, paid))
            .where(_A.c.experiment_id == sa.bindparam("experiment_id"))
            .group_by(_A.c.variant_id))


_COUNTS = prepared("experiment_counts", _counts)


def _is_unique_violation(error: BaseException) -> bool:
    return isinstance(error, sqlite3.IntegrityError) or getattr(error, "sqlstate", None) == "23505"


class SqlExperimentStore:
    def __init__(self, database: PaymentsDatabase) -> None:
        self._database = database

    @property
    def database(self) -> PaymentsDatabase:
        """For `SqlRiskStore.snapshot_and_running`, which reads the running experiment with its own
        facts in one statement when both stores are on one database."""
        return self._database

    async def add(self, experiment: Experiment, audit: AuditEntry | None = None) -> None:
        async with database_transaction(self._database) as db:
            stored = await db.one(_ADD, id=experiment.id, status=experiment.status.value,
                                  variants=variants_to_json(experiment.variants), created_at=experiment.created_at)
            if stored is None:
                raise ExperimentExistsError(experiment.id)  # rolls the transaction back
            if audit is not None:
                await SqlAuditLogRepository(db).add(audit)
                await db.flush()

    async def get(self, experiment_id: str) -> Experiment | None:
        async with autocommit(self._database) as db:
            row = await db.one(_GET, id=experiment_id)
        return None if row is None else _experiment(row)

    async def change_status(self, experiment: Experiment, previous: str, audit: AuditEntry | None = None) -> bool:
        values = dict(id=experiment.id, previous=previous, status=experiment.status.value,
                      started_at=experiment.started_at, stopped_at=experiment.stopped_at)
        if experiment.status is ExperimentStatus.RUNNING:
            async with autocommit(self._database) as db:  # the common refusal, without a failed write
                if await db.value(_ANOTHER_RUNNING, id=experiment.id):
                    raise AnotherExperimentRunningError()
        try:
            async with database_transaction(self._database) as db:
                if await db.one(_CHANGE_STATUS, **values) is None:
                    return False
                if audit is not None:
                    await SqlAuditLogRepository(db).add(audit)
                    await db.flush()
        except Exception as error:
            if experiment.status is ExperimentStatus.RUNNING and _is_unique_violation(error):
                raise AnotherExperimentRunningError() from None  # lost a race to another start
            raise
        return True

    async def running(self, user_id: str) -> RunningExperiment | None:
        async with autocommit(self._database) as db:
            row = await db.one(_RUNNING, user_id=user_id)
        return None if row is None else running_from_row(row)

    async def expose(self, experiment_id: str, user_id: str, variant_id: str, now: datetime) -> None:
        async with autocommit(self._database) as db:
            await db.run(_EXPOSE, experiment_id=experiment_id, user_id=user_id, variant_id=variant_id, now=now)

    async def counts(self, experiment_id: str, variant_ids: Sequence[str]) -> Sequence[VariantCounts]:
        async with autocommit(self._database) as db:
            rows = await db.all(_COUNTS, experiment_id=experiment_id)
        found = {row["variant_id"]: row for row in rows}
        return [VariantCounts(v, int(found[v]["exposed"]), int(found[v]["paying"]), int(found[v]["gross"]))
                if v in found else VariantCounts(v, 0, 0, 0) for v in variant_ids]
