"""The signals that flag a user without refusing anything (docs/risk.md):

- `RefundAbuse`: a post-commit subscriber of the event dispatcher; when a refund request was
  committed (`RefundStatusChanged` to `requested`) it counts the user's committed requests of
  the last 30 days and flags the user at 3 or more. The request itself still queues.
- `LinkedPayers`: after a payment's success is committed, the payer id the provider reported
  (port 1.3) is kept as a keyed hash (`payer_hash`: HMAC-SHA256 with a key derived from the
  service's id secret, never the raw id) with the user it paid for; a payer on more than 3 users
  in 30 days flags each of them.

Both are best effort: a failure is logged and never undoes or refuses the committed change.
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
from ports.use_cases.risk.gate import flag

log = logging.getLogger("payments.risk")
REQUESTED = "requested"


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

    async def payment_succeeded(self, provider: str, order_id: str | None, payer_id: str | None,
                                now: datetime) -> None:
        if not payer_id or not order_id:
            return
        try:
            hashed = payer_hash(self._key, provider, payer_id)
            user_id = await self._store.link_payer(hashed, order_id, now)
            if user_id is None:
                return
            users = sorted(await self._store.payer_users(hashed, now - PAYER_WINDOW))
            if len(users) > self._limits.users_per_payer:
                for linked in users:
                    await self._store.add_flag(flag(self._ids, linked, RiskRule.LINKED_PAYER,
                                                    {"payer": hashed[:16], "users": users}, now))
        except Exception:
            log.exception("risk: could not record the payer of order %s", order_id)
