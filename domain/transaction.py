"""The transaction aggregate: one purchase or plan change, paid through one or more sessions.

Transition table (`TRANSITIONS`):

    pending ──► succeeded ──► partially_refunded ──► refunded
       │            ▲   └────────────────────────────▲
       ├──► cancelled ─┤ (late payment: a confirmed payment is never lost)
       ├──► expired ───┘
       └──► failed       (charges made without the payer present, e.g. renewals)

Only `pending` moves on its own. A failed payment *attempt* does not fail the transaction: it
records `failure_reason` and the transaction stays pending, so the payer can retry. A
transaction is paid at most once: `paid_session_id` names the session that paid it.

The transaction is the aggregate root of its payment sessions (`sessions`, oldest first): they
are loaded, locked and stored with it, and change only through it. It holds the rules that span
them: a new attempt replaces the open ones (`open_session`); a confirmed payment is never lost
but pays the transaction at most once (`confirm_payment`); an attempt that ends unpaid leaves
the transaction pending (`end_attempt`); a pending transaction whose attempts have all lapsed
expires (`expire_if_lapsed`).
"""
from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from domain import events
from domain.catalog import PlanId, ReceivesQuote
from domain.errors import InvalidTransitionError
from domain.membership import Proration
from domain.money import Money
from domain.session import PaymentSession, SessionStatus
from domain.transitions import check_transition


MAX_SESSIONS = 20  # payment attempts one transaction may have; then the payer starts a new purchase


class TransactionType(str, enum.Enum):
    PURCHASE_RECEIVES = "purchase_receives"
    PLAN_UPGRADE = "plan_upgrade"
    PLAN_DOWNGRADE = "plan_downgrade"
    PLAN_RENEWAL = "plan_renewal"


class TransactionStatus(str, enum.Enum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REFUNDED = "refunded"
    PARTIALLY_REFUNDED = "partially_refunded"


S = TransactionStatus
TRANSITIONS: dict[TransactionStatus, frozenset[TransactionStatus]] = {
    S.PENDING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED, S.EXPIRED}),
    S.CANCELLED: frozenset({S.SUCCEEDED}),
    S.EXPIRED: frozenset({S.SUCCEEDED}),
    S.SUCCEEDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.PARTIALLY_REFUNDED: frozenset({S.PARTIALLY_REFUNDED, S.REFUNDED}),
    S.FAILED: frozenset(),
    S.REFUNDED: frozenset(),
}
# Payment can still arrive for these; every other move out of them is refused.
LATE_PAYMENT_STATES = frozenset({S.CANCELLED, S.EXPIRED})
PAID_STATES = frozenset({S.SUCCEEDED, S.PARTIALLY_REFUNDED, S.REFUNDED})
PLAN_CHANGE_TYPES = frozenset({TransactionType.PLAN_UPGRADE, TransactionType.PLAN_DOWNGRADE})
# A payment confirmed for one of these pays the transaction (late for cancelled and expired).
PAYABLE_STATES = frozenset({S.PENDING}) | LATE_PAYMENT_STATES


class Confirmation(str, enum.Enum):
    """What a confirmed payment did to its transaction (`Transaction.confirm_payment`)."""

    PAID = "paid"                        # it paid the transaction: deliver what was bought
    ALREADY_APPLIED = "already_applied"  # this session's payment was applied before: nothing to do
    PAID_TWICE = "paid_twice"            # the transaction was paid by another session, or can no
    #                                      longer be paid: this payment must be refunded


@attrs.frozen
class PaymentConfirmed:
    outcome: Confirmation
    session: PaymentSession
    ended: tuple[PaymentSession, ...] = ()  # other attempts it ended: close their provider orders


@attrs.frozen
class SessionOpened:
    session: PaymentSession
    replaced: tuple[PaymentSession, ...] = ()  # attempts it replaced: close their provider orders


@attrs.define(eq=False)
class Transaction:
    id: str
    order_id: str
    user_id: str
    type: TransactionType
    _status: TransactionStatus
    payment_method: str | None
    provider: str | None
    subtotal: Money
    discount: Money
    total: Money
    receives: int | None
    plan_from: PlanId | None
    plan_to: PlanId | None
    proration: Proration | None
    refunded_amount: Money
    cancel_reason: str | None
    failure_reason: str | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None
    paid_session_id: str | None = None
    # "<experiment>/<variant>" when a price experiment's variant priced it (docs/experiments.md)
    price_variant: str | None = None
    version: int = 0
    events: list[events.Event] = attrs.field(factory=list)
    sessions: list[PaymentSession] = attrs.field(factory=list)  # oldest first
    # A plan_renewal's period: the start of the period it pays for (one renewal per user and period).
    renewal_period_start: datetime | None = None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Transaction) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # ------------------------------------------------------------------ named constructors
    @classmethod
    def purchase_receives(cls, *, id: str, order_id: str, user_id: str, quote: ReceivesQuote,
                          payment_method: str, provider: str, now: datetime,
                          price_variant: str | None = None) -> Transaction:
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PURCHASE_RECEIVES,
                           status=S.PENDING, payment_method=payment_method, provider=provider,
                           subtotal=quote.subtotal, discount=quote.discount, total=quote.total,
                           receives=quote.quantity, now=now, price_variant=price_variant)

    @classmethod
    def plan_upgrade(cls, *, id: str, order_id: str, user_id: str, plan_from: PlanId, plan_to: PlanId,
                     proration: Proration, payment_method: str, provider: str | None, now: datetime,
                     price_variant: str | None = None) -> Transaction:
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PLAN_UPGRADE,
                           status=S.PENDING, payment_method=payment_method, provider=provider,
                           subtotal=proration.debit, discount=proration.credit, total=proration.charge,
                           plan_from=plan_from, plan_to=plan_to, proration=proration, now=now,
                           price_variant=price_variant)

    @classmethod
    def plan_downgrade(cls, *, id: str, order_id: str, user_id: str, plan_from: PlanId, plan_to: PlanId,
                       zero: Money, now: datetime, price_variant: str | None = None) -> Transaction:
        """A downgrade costs nothing and is settled at once (it takes effect at the period end)."""
        return cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PLAN_DOWNGRADE,
                           status=S.SUCCEEDED, payment_method=None, provider=None, subtotal=zero,
                           discount=zero, total=zero, plan_from=plan_from, plan_to=plan_to, now=now,
                           completed_at=now, price_variant=price_variant)

    @classmethod
    def plan_renewal(cls, *, id: str, order_id: str, user_id: str, plan_from: PlanId, plan_to: PlanId,
                     price: Money, period_start: datetime, payment_method: str | None, provider: str | None,
                     now: datetime, price_variant: str | None = None) -> Transaction:
        """The renewal of a paid plan for the period starting `period_start`, at the plan's full
        price, pending until paid (off-session or through a session) or failed after the grace
        period (docs/renewals.md). It never expires like a purchase: its attempts may lapse."""
        transaction = cls._create(id=id, order_id=order_id, user_id=user_id, type=TransactionType.PLAN_RENEWAL,
                                  status=S.PENDING, payment_method=payment_method, provider=provider,
                                  subtotal=price, discount=Money.zero(price.currency), total=price,
                                  plan_from=plan_from, plan_to=plan_to, now=now, price_variant=price_variant)
        transaction.renewal_period_start = period_start
        return transaction

    @classmethod
    def _create(cls, *, now: datetime, status: TransactionStatus, receives: int | None = None,
                plan_from: PlanId | None = None, plan_to: PlanId | None = None,
                proration: Proration | None = None, completed_at: datetime | None = None,
                **fields) -> Transaction:
        total: Money = fields["total"]
        transaction = cls(status=status, receives=receives, plan_from=plan_from, plan_to=plan_to,
                          proration=proration, refunded_amount=Money.zero(total.currency),
                          cancel_reason=None, failure_reason=None, created_at=now, updated_at=now,
                          completed_at=completed_at, **fields)
        transaction.events.append(events.TransactionCreated(
            now, *transaction._event_identity(), total.amount, total.currency.code))
        return transaction

    def _event_identity(self) -> tuple[str, str, str, str | None]:
        return self.id, self.user_id, self.type.value, self.provider

    # ------------------------------------------------------------------ reading
    @property
    def status(self) -> TransactionStatus:
        return self._status

    @property
    def is_pending(self) -> bool:
        return self._status is S.PENDING

    @property
    def is_paid(self) -> bool:
        return self.paid_session_id is not None or self._status in PAID_STATES

    @property
    def description(self) -> str:
        """The line the payer sees at the provider."""
        if self.type is TransactionType.PURCHASE_RECEIVES:
            return f"{self.receives} receives"
        return f"{self.plan_to.value.upper() if self.plan_to else ''} plan".strip()

    def session(self, session_id: str) -> PaymentSession:
        found = next((s for s in self.sessions if s.id == session_id), None)
        if found is None:
            raise KeyError(f"transaction {self.id} has no session {session_id}")
        return found

    def attempts_lapsed(self, now: datetime) -> bool:
        """Whether it has sessions, none of them is open at `now`, and the last one's
        `expires_at` has passed: a pending transaction then reads, and is swept, `expired`.
        Never for a renewal: it stays payable until its grace period ends (then `failed`)."""
        return self.type is not TransactionType.PLAN_RENEWAL and bool(self.sessions) and not any(s.is_open_at(now) for s in self.sessions) \
            and max(s.expires_at for s in self.sessions) <= now

    def status_at(self, now: datetime) -> TransactionStatus:
        """What a reader should see: `expired` for a pending one whose attempts have all lapsed,
        whether or not the sweep has stored it yet."""
        return S.EXPIRED if self._status is S.PENDING and self.attempts_lapsed(now) else self._status

    # ------------------------------------------------------------------ transitions
    def _move(self, target: TransactionStatus, now: datetime) -> None:
        check_transition(TRANSITIONS, "transaction", self._status, target)
        self._status = target
        self.updated_at = now

    def mark_paid(self, session_id: str | None, now: datetime) -> None:
        """A payment for this transaction was confirmed by session `session_id` (None: nothing
        was due, a zero charge). Allowed from pending and, as a late payment, from cancelled or
        expired; never a second time."""
        late = self._status in LATE_PAYMENT_STATES
        self._move(S.SUCCEEDED, now)
        self.paid_session_id = session_id
        self.completed_at = now
        self.events.append(events.TransactionSucceeded(now, *self._event_identity(), session_id, late))

    def record_refund(self, amount: Money, now: datetime) -> None:
        """`amount` of what was paid goes back: `refunded` once all of it has, else
        `partially_refunded`. Never more than was paid."""
        refunded = self.refunded_amount + amount
        if amount.amount <= 0 or refunded > self.total:
            raise ValueError(f"cannot refund {amount.format()} of {self.total.format()} "
                             f"({self.refunded_amount.format()} refunded already)")
        self._move(S.REFUNDED if refunded == self.total else S.PARTIALLY_REFUNDED, now)
        self.refunded_amount = refunded
        self.events.append(events.TransactionRefunded(now, *self._event_identity(), amount.amount))

    def cancel(self, reason: str | None, now: datetime) -> tuple[PaymentSession, ...]:
        """Cancel a pending transaction and its open sessions; returns those sessions (close
        their provider orders). A payment that still arrives is not lost (`confirm_payment`)."""
        self._move(S.CANCELLED, now)
        self.cancel_reason = reason
        self.events.append(events.TransactionCancelled(now, *self._event_identity(), reason))
        return self.replace_open_sessions(now)

    def expire(self, now: datetime) -> None:
        self._move(S.EXPIRED, now)
        self.events.append(events.TransactionExpired(now, *self._event_identity()))

    def expire_if_lapsed(self, now: datetime) -> bool:
        """Expire a pending transaction whose attempts have all lapsed (its sessions stored open
        past their `expires_at` are stored `expired` too); whether it expired."""
        if self._status is not S.PENDING or not self.attempts_lapsed(now):
            return False
        self.expire_lapsed_sessions(now)
        self.expire(now)
        return True

    # ------------------------------------------------------------------ its payment sessions
    def open_session(self, *, id: str, order_id: str, payment_method: str, provider: str,
                     return_url: str | None, ttl: timedelta, now: datetime, flow: str | None = None,
                     save_method: bool = False, saved_method_id: str | None = None) -> SessionOpened:
        """A new attempt to pay, open for `ttl`, with its own provider order id and the `flow` the
        payer asked for (the caller checked that the provider offers it). Only a pending
        transaction whose attempts have not all lapsed can be paid, in at most `MAX_SESSIONS`
        attempts (churn is bounded: each is stored and shown); the attempts still open are
        replaced, and the payment method and provider become the new session's."""
        status = self.status_at(now)
        if status is not S.PENDING:
            raise InvalidTransitionError("transaction", status.value, "paying",
                                         f"Only a pending transaction can be paid; this one is {status.value}.")
        if len(self.sessions) >= MAX_SESSIONS:
            raise InvalidTransitionError(
                "transaction", status.value, "paying",
                f"A transaction may have at most {MAX_SESSIONS} payment sessions and this one has had them all; "
                "pay in its open session or start a new purchase.")
        replaced = self.replace_open_sessions(now)
        session = PaymentSession.open(id=id, transaction_id=self.id, user_id=self.user_id, order_id=order_id,
                                      payment_method=payment_method, provider=provider, amount=self.total,
                                      return_url=return_url, expires_at=now + ttl, now=now, flow=flow,
                                      save_method=save_method, saved_method_id=saved_method_id)
        self.sessions.append(session)
        self.payment_method, self.provider = payment_method, provider
        self.updated_at = now
        return SessionOpened(session, replaced)

    def replace_open_sessions(self, now: datetime) -> tuple[PaymentSession, ...]:
        """End every session still stored open (`expired` past its `expires_at`, else
        `cancelled`); returns them: their provider orders must be closed."""
        ended = tuple(s for s in self.sessions if s.status is SessionStatus.OPEN)
        for session in ended:
            (session.expire if now >= session.expires_at else session.cancel)(now)
        return ended

    def confirm_payment(self, session_id: str, now: datetime) -> PaymentConfirmed:
        """The provider confirmed session `session_id`'s payment. A confirmed payment is never
        lost: it pays a pending transaction, or a cancelled or expired one (a late payment), and
        ends the other open attempts. A transaction is paid at most once: a payment for one that
        another session paid (or that failed for good) marks the session `refunded`, and the
        caller sends the money back. The same confirmation again changes nothing."""
        session = self.session(session_id)
        if session.is_paid:
            return PaymentConfirmed(Confirmation.ALREADY_APPLIED, session)
        if self.is_paid or self._status not in PAYABLE_STATES:
            session.refund_duplicate(now)
            return PaymentConfirmed(Confirmation.PAID_TWICE, session)
        session.complete(now)
        self.mark_paid(session.id, now)
        return PaymentConfirmed(Confirmation.PAID, session, self.replace_open_sessions(now))

    def end_attempt(self, session_id: str, *, closed: bool, reason: str | None, now: datetime) -> bool:
        """The provider says the attempt ended unpaid: its order was closed (`closed`; past its
        `expires_at` the session is then `expired`) or the payment failed (the session is
        `failed` and the transaction, still pending, records why). False when the session was
        no longer open: nothing changes."""
        session = self.session(session_id)
        if session.status is not SessionStatus.OPEN:
            return False
        if closed and now >= session.expires_at:
            session.expire(now)
        else:
            session.fail(now)
            self.record_failed_attempt(session.id, reason or "payment_failed", now)
        return True

    def decline_off_session(self, session_id: str, reason: str, now: datetime, *, fail_transaction: bool) -> bool:
        """The provider declined the off-session charge `session_id` (a saved method, no payer
        present): the session fails; the transaction fails too (`fail_transaction`: a one-click
        purchase), or stays pending recording why (a renewal, retried or paid by the payer later).
        False when the session was no longer open: nothing changes."""
        session = self.session(session_id)
        if session.status is not SessionStatus.OPEN or self._status is not S.PENDING:
            return False
        session.fail(now)
        if fail_transaction:
            self.fail(reason, now)
        else:
            self.record_failed_attempt(session.id, reason, now)
        return True

    def record_method_saved(self, session_id: str, now: datetime) -> bool:
        """The saved-method step of paid session `session_id` ended (the method stored, or none
        to store); False when there was nothing to record."""
        return self.session(session_id).record_method_saved(now)

    def fail_attempt(self, session_id: str, reason: str, now: datetime) -> bool:
        """Opening session `session_id`'s provider order failed: the session fails, the
        transaction stays pending and records why. False when the session was no longer open."""
        session = self.session(session_id)
        if not session.is_open_at(now):
            return False
        session.fail(now)
        self.record_failed_attempt(session.id, reason, now)
        return True

    def expire_lapsed_sessions(self, now: datetime) -> tuple[PaymentSession, ...]:
        """Store `expired` on the sessions stored open past their `expires_at`; returns them."""
        lapsed = tuple(s for s in self.sessions if s.status is SessionStatus.OPEN and now >= s.expires_at)
        for session in lapsed:
            session.expire(now)
        return lapsed

    def take_due_checks(self, now: datetime) -> tuple[PaymentSession, ...]:
        """The sessions whose provider is due to be asked about them (`next_check_at` ≤ `now`),
        each with its next check scheduled."""
        due = tuple(s for s in self.sessions if s.next_check_at is not None and s.next_check_at <= now)
        for session in due:
            session.schedule_next_check(now)
        return due

    def collect_events(self) -> list[events.Event]:
        """The events it and its sessions recorded, each handed out once (stores call it after
        a commit)."""
        collected = [*self.events, *(e for s in self.sessions for e in s.events)]
        self.events.clear()
        for session in self.sessions:
            session.events.clear()
        return collected

    def fail(self, reason: str, now: datetime) -> None:
        """A charge made without the payer present (a renewal) failed for good."""
        self._move(S.FAILED, now)
        self.failure_reason = reason
        self.completed_at = now
        self.events.append(events.TransactionFailed(now, *self._event_identity(), reason))

    def record_failed_attempt(self, session_id: str, reason: str, now: datetime) -> None:
        """One payment attempt failed: remember why; the transaction stays as it is."""
        self.failure_reason = reason
        self.updated_at = now
        self.events.append(events.PaymentAttemptFailed(now, self.id, session_id, reason))
