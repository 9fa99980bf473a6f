"""The admin's side of risk (role `admin`): list and resolve flags, block and unblock users.
Each change is appended to the audit log with it (`risk_flag.resolved`, `user.blocked`,
`user.unblocked`)."""
from __future__ import annotations

from collections.abc import Sequence

import attrs

from domain.audit import AuditEntry
from domain.errors import NotFoundError
from domain.risk import RiskFlag, RiskRule
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.risk import RiskStore


class RiskFlagNotFoundError(NotFoundError):
    def __init__(self, flag_id: str) -> None:
        super().__init__(f"Risk flag {flag_id} not found.")


@attrs.frozen
class BlockState:
    user_id: str
    blocked: bool


@attrs.define
class ListRiskFlags:
    _store: RiskStore

    async def __call__(self, *, user_id: str | None = None, rule: str | None = None, resolved: bool | None = None,
                       page: int = 1, limit: int = 20) -> tuple[Sequence[RiskFlag], int]:
        return await self._store.flags(user_id=user_id, rule=RiskRule(rule) if rule else None,
                                       resolved=resolved, page=page, limit=limit)


@attrs.define
class ResolveRiskFlag:
    _store: RiskStore
    _ids: IdGenerator
    _clock: Clock

    async def __call__(self, flag_id: str, *, admin: str, note: str | None, request_id: str | None = None) -> RiskFlag:
        now = self._clock.now()
        audit = AuditEntry(id=self._ids.new_id("au"), actor=admin, action="risk_flag.resolved",
                           object_type="risk_flag", object_id=flag_id, details={"note": note},
                           request_id=request_id, created_at=now)
        resolved = await self._store.resolve_flag(flag_id, admin, note, now, audit)
        if resolved is None:
            raise RiskFlagNotFoundError(flag_id)
        return resolved


@attrs.define
class SetUserBlocked:
    """Block (`blocked=True`, with a reason) or unblock a user; idempotent."""

    _store: RiskStore
    _ids: IdGenerator
    _clock: Clock

    async def __call__(self, user_id: str, blocked: bool, *, admin: str, reason: str | None = None,
                       request_id: str | None = None) -> BlockState:
        now = self._clock.now()
        audit = AuditEntry(id=self._ids.new_id("au"), actor=admin,
                           action="user.blocked" if blocked else "user.unblocked", object_type="user",
                           object_id=user_id[:64], details={"user_id": user_id, "reason": reason},
                           request_id=request_id, created_at=now)
        await self._store.set_blocked(user_id, blocked, reason=reason, by=admin, now=now, audit=audit)
        return BlockState(user_id, blocked)
