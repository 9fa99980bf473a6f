"""The risk store (docs/risk.md): the facts the risk rules read and the flags, blocks and payer
links they write. Every method is one short statement or transaction on committed data, never
inside a unit of work (a refusal's flag must stay when the refused unit of work rolls back).

Implementations: `adapters.memory_risk.InMemoryRiskStore`, `adapters.sql.risk.SqlRiskStore`;
`tests/contract/test_risk_store.py` holds both to this protocol.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.audit import AuditEntry
from domain.risk import RiskFlag, RiskRule, RiskSnapshot
from ports.experiments import ExperimentStore, RunningExperiment


class RiskStore(Protocol):
    async def snapshot(self, user_id: str, *, paid_since: datetime, failed_since: datetime,
                       transaction_id: str | None = None) -> RiskSnapshot:
        """Blocked?, paid since `paid_since` and failed or expired attempts since `failed_since`
        (and, with `transaction_id`, that transaction's amount) in one statement."""

    async def snapshot_and_running(self, experiments: ExperimentStore, user_id: str, *, paid_since: datetime,
                                   failed_since: datetime) -> tuple[RiskSnapshot, RunningExperiment | None]:
        """`snapshot(user_id, …)` and `experiments.running(user_id)`, the reads a purchase makes
        before it writes: in one statement when `experiments` is on this store's database (what
        each returns is what the two calls would)."""

    async def add_flag(self, flag: RiskFlag) -> bool:
        """Store `flag` unless the user has an unresolved flag of that rule already (one open
        flag per user and rule, however often the rule fires); whether it was stored."""

    async def flags(self, *, user_id: str | None = None, rule: RiskRule | None = None,
                    resolved: bool | None = None, page: int = 1, limit: int = 20) -> tuple[Sequence[RiskFlag], int]:
        """One page of the flags, newest first, filtered, and how many match in all."""

    async def resolve_flag(self, flag_id: str, by: str, note: str | None, now: datetime,
                           audit: AuditEntry | None = None) -> RiskFlag | None:
        """Resolve it (once: an already resolved flag is returned as it is, and nothing is
        audited again); None when there is no such flag. `audit` is appended with the change."""

    async def set_blocked(self, user_id: str, blocked: bool, *, reason: str | None, by: str, now: datetime,
                          audit: AuditEntry | None = None) -> None:
        """Block or unblock `user_id` (idempotent); `audit` is appended with the change."""

    async def refund_requests(self, user_id: str, since: datetime) -> int:
        """Refund requests the user made since `since` (committed; withdrawn ones count too)."""

    async def link_payer(self, payer_hash: str, order_id: str, now: datetime) -> str | None:
        """Remember that the payer `payer_hash` paid the session with `order_id` (the latest time
        kept per payer and user): the user it paid for, None when no session has that order id."""

    async def payer_users(self, payer_hash: str, since: datetime) -> Sequence[str]:
        """The users the payer paid for since `since`."""

    async def payer_reach(self, payer_hash: str, since: datetime, shown: int) -> tuple[int, Sequence[str]]:
        """How many users the payer paid for since `since`, and the first `shown` of them by id
        (one statement; what comes back does not grow with the payer's users)."""

    async def flag_payer_users(self, payer_hash: str, since: datetime, flag: RiskFlag) -> Sequence[RiskFlag]:
        """Store `flag` (its rule, details and time) for each user the payer paid for since `since`
        who has no unresolved flag of that rule, in one set-based statement, with their `risk.flagged`
        events in the same transaction; the i-th new flag (users by id) gets the id `{flag.id}_{i}`.
        The new flags, by user (none when every user is flagged already)."""
