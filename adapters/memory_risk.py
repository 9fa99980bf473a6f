"""The risk store in memory (`ports.risk.RiskStore`): one process's, reading the committed state
of the in-memory adapters' store (transactions, sessions, refunds) and keeping flags, blocks and
payer links of its own."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

import attrs

from adapters.memory import InMemoryStore
from domain.audit import AuditEntry
from domain.outbox import NewEvent, pending
from domain.refund import RefundKind
from domain.risk import RiskFlag, RiskRule, RiskSnapshot
from domain.session import SessionStatus
from domain.transaction import TransactionStatus
from ports.experiments import ExperimentStore, RunningExperiment

PAID = frozenset({TransactionStatus.SUCCEEDED, TransactionStatus.REFUNDED, TransactionStatus.PARTIALLY_REFUNDED})
UNPAID_ENDS = frozenset({SessionStatus.FAILED, SessionStatus.EXPIRED})


class InMemoryRiskStore:
    def __init__(self, store: InMemoryStore, flag_events: Callable[[RiskFlag], list[NewEvent]] | None = None) -> None:
        self._store = store
        self._flag_events = flag_events  # `risk.flagged` into the outbox with the flag, when events are on
        self._flags: dict[str, RiskFlag] = {}
        self._blocked: dict[str, str | None] = {}

    async def snapshot(self, user_id: str, *, paid_since: datetime, failed_since: datetime,
                       transaction_id: str | None = None) -> RiskSnapshot:
        mine = [t for t in self._store.transactions.values() if t.user_id == user_id]
        paid = sum(t.total.amount for t in mine
                   if t.status in PAID and t.completed_at is not None and t.completed_at >= paid_since)
        failed = sum(1 for t in mine for s in t.sessions if s.status in UNPAID_ENDS and s.updated_at >= failed_since)
        asked = next((t.total.amount for t in mine if t.id == transaction_id), None) if transaction_id else None
        return RiskSnapshot(blocked=user_id in self._blocked, paid_last_day=paid, failed_last_hour=failed,
                            amount=asked)

    async def snapshot_and_running(self, experiments: ExperimentStore, user_id: str, *, paid_since: datetime,
                                   failed_since: datetime) -> tuple[RiskSnapshot, RunningExperiment | None]:
        return (await self.snapshot(user_id, paid_since=paid_since, failed_since=failed_since),
                await experiments.running(user_id))

    async def add_flag(self, flag: RiskFlag) -> bool:
        if any(f.user_id == flag.user_id and f.rule is flag.rule and not f.resolved for f in self._flags.values()):
            return False
        self._flags[flag.id] = flag
        if self._flag_events is not None:
            self._store.outbox.extend(pending(event) for event in self._flag_events(flag))
        return True

    async def flags(self, *, user_id: str | None = None, rule: RiskRule | None = None,
                    resolved: bool | None = None, page: int = 1, limit: int = 20) -> tuple[Sequence[RiskFlag], int]:
        found = [f for f in self._flags.values()
                 if (user_id is None or f.user_id == user_id) and (rule is None or f.rule is rule)
                 and (resolved is None or f.resolved is resolved)]
        found.sort(key=lambda f: (f.created_at, f.id), reverse=True)
        return found[(page - 1) * limit:page * limit], len(found)

    async def resolve_flag(self, flag_id: str, by: str, note: str | None, now: datetime,
                           audit: AuditEntry | None = None) -> RiskFlag | None:
        found = self._flags.get(flag_id)
        if found is None or found.resolved:
            return found
        resolved = self._flags[flag_id] = found.resolve(by, note, now)
        if audit is not None:
            self._store.audit_log.append(audit)
        return resolved

    async def set_blocked(self, user_id: str, blocked: bool, *, reason: str | None, by: str, now: datetime,
                          audit: AuditEntry | None = None) -> None:
        if blocked:
            self._blocked[user_id] = reason
        else:
            self._blocked.pop(user_id, None)
        if audit is not None:
            self._store.audit_log.append(audit)

    async def refund_requests(self, user_id: str, since: datetime) -> int:
        return sum(1 for r in self._store.refunds.values()
                   if r.user_id == user_id and r.kind is RefundKind.REQUESTED and r.created_at >= since)

    async def link_payer(self, payer_hash: str, order_id: str, now: datetime) -> str | None:
        session = next((s for s in self._store.sessions.values() if s.order_id == order_id), None)
        if session is None:
            return None
        self._store.risk_payers[(payer_hash, session.user_id)] = now
        return session.user_id

    async def payer_users(self, payer_hash: str, since: datetime) -> Sequence[str]:
        return [user for (payer, user), seen in self._store.risk_payers.items() if payer == payer_hash and seen >= since]

    async def payer_reach(self, payer_hash: str, since: datetime, shown: int) -> tuple[int, Sequence[str]]:
        users = sorted(await self.payer_users(payer_hash, since))
        return len(users), users[:shown]

    async def flag_payer_users(self, payer_hash: str, since: datetime, flag: RiskFlag) -> Sequence[RiskFlag]:
        flagged = {f.user_id for f in self._flags.values() if f.rule is flag.rule and not f.resolved}
        unflagged = [user for user in sorted(await self.payer_users(payer_hash, since)) if user not in flagged]
        stored = [attrs.evolve(flag, id=f"{flag.id}_{number}", user_id=user)
                  for number, user in enumerate(unflagged, start=1)]
        for new in stored:
            self._flags[new.id] = new
            if self._flag_events is not None:
                self._store.outbox.extend(pending(event) for event in self._flag_events(new))
        return stored
