"""The payment session: one attempt to pay a transaction at one provider. It belongs to its
transaction (`domain.transaction`), the aggregate root that opens, loads, locks and stores it.

Each session carries its own `order_id`, the merchant order number its provider order is created
with (a closed WeChat Pay order number can never be reused, so a retry needs a new one), and its
`flow`, how the payer pays (`qr_code`, `redirect`, `mobile_redirect`: the provider port's flow
values), which every opening of that order asks for again (None: a session stored before flows
were kept, whose order takes the method's first flow).

Transition table (`TRANSITIONS`):

    open ──► completed          the provider confirmed the payment
      ├───► failed              the attempt failed (the transaction stays pending)
      ├───► cancelled           the payer cancelled, or a newer session replaced this one
      ├───► expired             `expires_at` passed
      └───► refunded            paid, but its transaction was already paid by another session

    failed | cancelled | expired ──► completed | refunded    a late confirmed payment

`completed` and `refunded` are final. Reads never show `open` once `expires_at` has passed:
`status_at(now)` answers `expired` then, whether or not the sweeper has stored it yet.
"""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from domain import events
from domain.money import Money
from domain.transitions import check_transition


class SessionStatus(str, enum.Enum):
    OPEN = "open"
    COMPLETED = "completed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FAILED = "failed"
    REFUNDED = "refunded"


S = SessionStatus
_PAID = frozenset({S.COMPLETED, S.REFUNDED})
TRANSITIONS: dict[SessionStatus, frozenset[SessionStatus]] = {
    S.OPEN: frozenset({S.COMPLETED, S.FAILED, S.CANCELLED, S.EXPIRED, S.REFUNDED}),
    S.FAILED: _PAID,
    S.CANCELLED: _PAID,
    S.EXPIRED: _PAID,
    S.COMPLETED: frozenset(),
    S.REFUNDED: frozenset(),
}
LATE_PAYMENT_STATES = frozenset({S.FAILED, S.CANCELLED, S.EXPIRED})

# When an open session's provider is asked about it, counted from its creation, in case its
# notification was lost; then once more a minute after it expires, and once a minute after it
# ends unpaid (a payment made just before an order was closed). Paid sessions are never asked.
CHECK_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(minutes=30))
FINAL_CHECK_DELAY = timedelta(minutes=1)


@attrs.define(eq=False)
class PaymentSession:
    id: str
    transaction_id: str
    user_id: str
    order_id: str
    _status: SessionStatus
    payment_method: str
    provider: str
    amount: Money
    return_url: str | None
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None = None
    payment_url: str | None = None
    qr_code: str | None = None
    provider_reference: str | None = None
    next_check_at: datetime | None = None  # when to ask the provider about it (see `CHECK_DELAYS`)
    flow: str | None = None  # how the payer pays: qr_code | redirect | mobile_redirect
    # Saved methods (docs/saved-methods.md): the payer asked to keep the method when this payment
    # succeeds, and when that step ended (stored, or the provider kept none); or this session is an
    # off-session charge of the saved method `saved_method_id` (no payer, no instructions).
    save_method: bool = False
    method_saved_at: datetime | None = None
    saved_method_id: str | None = None
    version: int = 0
    events: list[events.Event] = attrs.field(factory=list)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PaymentSession) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def open(cls, *, id: str, transaction_id: str, user_id: str, order_id: str, payment_method: str,
             provider: str, amount: Money, return_url: str | None, expires_at: datetime,
             now: datetime, flow: str | None = None, save_method: bool = False,
             saved_method_id: str | None = None) -> PaymentSession:
        session = cls(id=id, transaction_id=transaction_id, user_id=user_id, order_id=order_id,
                      status=S.OPEN, payment_method=payment_method, provider=provider, amount=amount,
                      return_url=return_url, expires_at=expires_at, created_at=now, updated_at=now,
                      next_check_at=now + CHECK_DELAYS[0], flow=flow, save_method=save_method,
                      saved_method_id=saved_method_id)
        session.events.append(events.SessionStatusChanged(now, id, transaction_id, S.OPEN.value,
                                                                  provider=provider, payment_method=payment_method))
        return session

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> SessionStatus:
        """The stored status; see `status_at` for what a reader should see."""
        return self._status

    def status_at(self, now: datetime) -> SessionStatus:
        if self._status is S.OPEN and now >= self.expires_at:
            return S.EXPIRED
        return self._status

    def is_open_at(self, now: datetime) -> bool:
        return self.status_at(now) is S.OPEN

    @property
    def is_paid(self) -> bool:
        return self._status in _PAID

    @property
    def off_session(self) -> bool:
        """An off-session charge of a saved method: no payer, no payment instructions."""
        return self.saved_method_id is not None

    @property
    def awaits_saved_method(self) -> bool:
        """Paid with `save_method`, and the method is not stored yet (docs/saved-methods.md)."""
        return self.save_method and self._status is S.COMPLETED and self.method_saved_at is None

    # ------------------------------------------------------------------ changes
    def attach_instructions(self, payment_url: str | None, qr_code: str | None,
                            provider_reference: str | None, now: datetime) -> None:
        """What the provider returned for this session's order: where and how to pay."""
        self.payment_url, self.qr_code, self.provider_reference = payment_url, qr_code, provider_reference
        self.updated_at = now

    def schedule_next_check(self, now: datetime) -> datetime | None:
        """Move `next_check_at` past `now` after a check: the next of `CHECK_DELAYS` (or the
        check after expiry) while open; nothing more once ended or paid."""
        if self._status is S.OPEN:
            due = [self.created_at + delay for delay in CHECK_DELAYS] + [self.expires_at + FINAL_CHECK_DELAY]
            self.next_check_at = next((moment for moment in sorted(due) if moment > now), None)
        else:
            self.next_check_at = None
        return self.next_check_at

    def _move(self, target: SessionStatus, now: datetime) -> None:
        check_transition(TRANSITIONS, "payment session", self._status, target)
        self._status = target
        self.updated_at = now
        # An unpaid end gets one more check a minute later; a paid session needs none.
        self.next_check_at = None if target in _PAID else now + FINAL_CHECK_DELAY
        self.events.append(events.SessionStatusChanged(now, self.id, self.transaction_id, target.value,
                                                         provider=self.provider,
                                                         payment_method=self.payment_method))

    def complete(self, now: datetime) -> None:
        self._move(S.COMPLETED, now)
        self.completed_at = now

    def refund_duplicate(self, now: datetime) -> None:
        """Paid, but its transaction had been paid already: the payment is being refunded."""
        self._move(S.REFUNDED, now)
        self.completed_at = now

    def fail(self, now: datetime) -> None:
        self._move(S.FAILED, now)

    def record_method_saved(self, now: datetime) -> bool:
        """The saved-method step of a paid session ended (stored, or nothing to store); False
        when it had ended before or was never asked for."""
        if not self.awaits_saved_method:
            return False
        self.method_saved_at = now
        self.updated_at = now
        return True

    def cancel(self, now: datetime) -> None:
        self._move(S.CANCELLED, now)

    def expire(self, now: datetime) -> None:
        if now < self.expires_at:
            raise ValueError(f"session {self.id} does not expire before {self.expires_at.isoformat()}")
        self._move(S.EXPIRED, now)

