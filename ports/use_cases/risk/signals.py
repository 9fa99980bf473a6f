"""The signals that flag a user without refusing anything (docs/risk.md):

- `RefundAbuse`: a post-commit subscriber of the event dispatcher; when a refund request was
  committed (`RefundStatusChanged` to `requested`) it counts the user's committed requests of
  the last 30 days and flags the user at 3 or more. The request itself still queues.
- `LinkedPayers`: in the unit of work that records a payment's success, the payer id the provider
  reported (port 1.3) is linked to the user as a keyed hash (`payer_hash`: HMAC-SHA256 with a key
  derived from the service's id secret, never the raw id); after the commit, a payer on more than
  3 users in 30 days flags each of them not flagged yet, in one statement of the store (its cost
  grows with the new flags, not with the payer's users; `details.users` shows the first
  `USERS_SHOWN` by id, `details.users_total` how many there are).

The flags are best effort: a failure is logged and never undoes or refuses the committed change.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from datetime import datetime

import attrs

from domain.events import Event, RefundStatusChanged
from domain.risk import PAYER_WINDOW, REFUND_WINDOW, RiskLimits, RiskRule
from ports.clock import Clock
from ports.ids import IdGenerator
from ports.risk import RiskStore
from ports.unit_of_work import UnitOfWork
from ports.use_cases.risk.gate import flag

log = logging.getLogger("payments.risk")
REQUESTED = "requested"
USERS_SHOWN = 20  # the users a linked_payer flag names (by id); `users_total` counts them all


def payer_key(id_secret: str) -> bytes:
    """The key of payer hashes, derived from the id secret (a key of its own: a payer hash never
    equals an id derived from the same text)."""
    return hmac.new(id_secret.encode(), b"payments payer hash", hashlib.sha256).digest()


def payer_hash(key: bytes, provider: str, payer_id: str) -> str:
    return hmac.new(key, f"{provider}\x00{payer_id}".encode(), hashlib.sha256).hexdigest()


@attrs.define
class RefundAbuse:
    _store: RiskStore
    _ids: IdGenerator
    _clock: Clock
    _limits: RiskLimits = RiskLimits()

    async def __call__(self, published: Sequence[Event]) -> None:
        users = {event.user_id for event in published
                 if isinstance(event, RefundStatusChanged) and event.status == REQUESTED}
        for user_id in users:
            try:
                await self._check(user_id, self._clock.now())
            except Exception:
                log.exception("risk: could not check the refund requests of user %s", user_id)

    async def _check(self, user_id: str, now: datetime) -> None:
        requests = await self._store.refund_requests(user_id, now - REFUND_WINDOW)
        if requests >= self._limits.refund_requests_to_flag:
            await self._store.add_flag(flag(self._ids, user_id, RiskRule.REFUND_ABUSE,
                                            {"refund_requests_30d": requests}, now))


@attrs.define
class LinkedPayers:
    _store: RiskStore
    _ids: IdGenerator
    _key: bytes = attrs.field(repr=False)
    _limits: RiskLimits = RiskLimits()

    async def record(self, uow: UnitOfWork, provider: str, payer_id: str | None, user_id: str,
                     now: datetime) -> str | None:
        """Inside the unit of work that records a payment's success: link its payer (as a keyed
        hash) to `user_id`, committed with the payment. The hash, for `check` after the commit."""
        if not payer_id:
            return None
        hashed = payer_hash(self._key, provider, payer_id)
        await uow.payer_links.link(hashed, user_id, now)
        return hashed

    async def check(self, hashed: str, now: datetime) -> None:
        """After the commit: a payer on more than 3 users in 30 days flags each of them. Best effort
        (a signal, not money): a failure is logged and the payment stands."""
        try:
            since = now - PAYER_WINDOW
            total, users = await self._store.payer_reach(hashed, since, USERS_SHOWN)
            if total > self._limits.users_per_payer:
                details = {"payer": hashed[:16], "users": list(users), "users_total": total}
                await self._store.flag_payer_users(hashed, since, flag(self._ids, "", RiskRule.LINKED_PAYER,
                                                                       details, now))
        except Exception:
            log.exception("risk: could not check the users of payer %s", hashed[:16])
