"""The risk gate, asked before a payment is opened or charged (purchase of receives, a plan
upgrade, a new session of a pending transaction): one statement reads what the rules need
(`RiskStore.snapshot`; a purchase reads it with its prices, `snapshot_and_running`),
`domain.risk.assess` decides. A refusal raises `RiskDeclinedError`
(403 `risk_declined`) and flags the user (one open flag per user and rule).

The flag is written outside the caller's unit of work, so the refusal rolling that back keeps it.
Called inside a unit of work (`defer_flag=True`) the flag is written by a task of its own once the
caller let go of its transaction (on SQLite the one writer is the caller); `settled()` awaits those.
"""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import attrs

from domain.risk import DAY, HOUR, RiskDeclinedError, RiskFlag, RiskLimits, RiskRule, RiskSnapshot, Verdict, assess
from ports.experiments import ExperimentStore, RunningExperiment
from ports.ids import IdGenerator
from ports.risk import RiskStore

log = logging.getLogger("payments.risk")


@attrs.define
class RiskGate:
    _store: RiskStore
    _ids: IdGenerator
    _limits: RiskLimits = RiskLimits()
    _pending: set[asyncio.Task] = attrs.field(factory=set, init=False)

    async def admit(self, user_id: str, amount: int | None, now: datetime, *, transaction_id: str | None = None,
                    defer_flag: bool = False, snapshot: RiskSnapshot | None = None) -> None:
        """Refuse (`RiskDeclinedError`) a new payment of `amount` fen by `user_id`; with
        `transaction_id` and no amount, that transaction's amount is read with the rest. With
        `snapshot` (from `snapshot_and_running` at the same `now`) nothing is read."""
        if snapshot is None:
            snapshot = await self._store.snapshot(user_id, paid_since=now - DAY, failed_since=now - HOUR,
                                                  transaction_id=transaction_id)
        verdict = assess(snapshot, amount if amount is not None else (snapshot.amount or 0), self._limits)
        if verdict.allowed:
            return
        log.warning("risk: payment of user %s declined (%s)", user_id, verdict.declined)
        if verdict.rule is not None:
            flag = self._flag(user_id, verdict, now)
            if defer_flag:
                task = asyncio.get_running_loop().create_task(self._store_flag(flag))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)
            else:
                await self._store_flag(flag)
        raise RiskDeclinedError(verdict.declined or "")

    async def snapshot_and_running(self, experiments: ExperimentStore, user_id: str,
                                   now: datetime) -> tuple[RiskSnapshot, RunningExperiment | None]:
        """What `admit` reads and the running price experiment with the user's assignment, in one
        statement on SQL (the purchase: its prices are needed before its amount is known)."""
        return await self._store.snapshot_and_running(experiments, user_id, paid_since=now - DAY,
                                                      failed_since=now - HOUR)

    def _flag(self, user_id: str, verdict: Verdict, now: datetime) -> RiskFlag:
        assert verdict.rule is not None
        return RiskFlag(id=self._ids.new_id("rk"), user_id=user_id, rule=verdict.rule,
                        details=dict(verdict.details), created_at=now)

    async def _store_flag(self, flag: RiskFlag) -> None:
        try:
            await self._store.add_flag(flag)
        except Exception:  # the refusal stands; a flag that could not be written is logged
            log.exception("risk: could not store the %s flag of user %s", flag.rule.value, flag.user_id)

    async def settled(self) -> None:
        """Wait for the flags being written (tests; shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)


def flag(ids: IdGenerator, user_id: str, rule: RiskRule, details: dict, now: datetime) -> RiskFlag:
    return RiskFlag(id=ids.new_id("rk"), user_id=user_id, rule=rule, details=details, created_at=now)
