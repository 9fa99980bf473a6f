"""The mock provider's "remote side": which orders exist, their state, and their refunds.

A refund is `pending` until it settles (`settles_at`) as its `outcome` (`succeeded`, or `failed`
with a reason under the drill); settling is a compare-and-set from `pending`, so one caller (one
process) settles each attempt and sends its notification. A failed refund gives its amount back
to the order and may be sent again under the same refund id (a new attempt).

Saved methods (port 1.6): an order opened with `save_method` and paid keeps the payer's method as
a token (`mock_pm_<order id>`) that remembers the `card` the payer chose on the checkout page
(`ok`, `declines`, `requires_action`: how every off-session charge of it ends); a detached token
can no longer be charged. Off-session charges are orders too (their `session_id` is
`offsession:<order id>`), so `query_payment` reads them like any order.

A real provider keeps this on its servers, shared by every process of ours that talks to it.
`SqliteRemote` does the same for the mock with a small SQLite file of its own (the service may
run as several processes), `InMemoryRemote` keeps it in one process (tests, in-memory demos).
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone

import attrs

from domain.money import Currency, Money
from ports.payment_provider import Flow, LineKind, OrderLine, PaymentOrder, PaymentState, RefundState


@attrs.frozen
class MockOrder:
    order: PaymentOrder
    state: PaymentState
    refunded: int  # minor units refunded so far
    card: str = "ok"  # the card the payer chose on the checkout page (what a saved method does)


@attrs.frozen
class MockSavedMethod:
    token: str
    order_id: str  # the payment that saved it
    payment_method: str
    card: str  # ok | declines | requires_action
    customer_reference: str | None = None
    detached: bool = False


@attrs.frozen
class MockRefund:
    refund_order_id: str
    order_id: str
    amount: int  # minor units
    state: RefundState
    outcome: RefundState  # what it settles as
    failure_reason: str | None = None  # the reason it fails with (the drill's)
    settles_at: datetime | None = None
    notify_url: str | None = None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # rows written before refunds settled later: settled


class OrderConflictError(Exception):
    """The same order id was opened with other parameters."""


def same_order(stored: PaymentOrder, asked: PaymentOrder) -> bool:
    """Whether `asked` is the order `stored` again (an order stored without a flow, by an older
    core or mock, is the same whatever flow it is asked with now)."""
    return (stored if stored.flow is not None else attrs.evolve(stored, flow=asked.flow)) == asked


class InMemoryRemote:
    def __init__(self) -> None:
        self._orders: dict[str, MockOrder] = {}
        self._by_session: dict[str, str] = {}
        self._refunds: dict[str, MockRefund] = {}
        self._saved: dict[str, MockSavedMethod] = {}

    def open(self, order: PaymentOrder, state: PaymentState = PaymentState.PENDING) -> MockOrder:
        existing = self._orders.get(order.order_id)
        if existing is not None:
            if not same_order(existing.order, order):
                raise OrderConflictError(order.order_id)
            return existing
        self._orders[order.order_id] = MockOrder(order, state, 0)
        self._by_session[order.session_id] = order.order_id
        return self._orders[order.order_id]

    def get(self, order_id: str) -> MockOrder | None:
        return self._orders.get(order_id)

    def by_session(self, session_id: str) -> MockOrder | None:
        order_id = self._by_session.get(session_id)
        return self._orders.get(order_id) if order_id else None

    def set_state(self, order_id: str, state: PaymentState, card: str | None = None) -> None:
        found = self._orders[order_id]
        self._orders[order_id] = attrs.evolve(found, state=state, card=card or found.card)

    def save_method(self, saved: MockSavedMethod) -> MockSavedMethod:
        """Keep `saved` unless its token exists; the stored one."""
        return self._saved.setdefault(saved.token, saved)

    def saved_method(self, token: str) -> MockSavedMethod | None:
        return self._saved.get(token)

    def detach(self, token: str) -> None:
        if token in self._saved:
            self._saved[token] = attrs.evolve(self._saved[token], detached=True)

    def refund(self, refund: MockRefund) -> bool:
        """Record a refund (or a new attempt of a failed one, under the same id); False, changing
        nothing, when this refund id exists and did not fail."""
        existing = self._refunds.get(refund.refund_order_id)
        if existing is not None and existing.state is not RefundState.FAILED:
            return False
        found = self._orders[refund.order_id]
        self._refunds[refund.refund_order_id] = refund
        if refund.state is not RefundState.FAILED:
            self._orders[refund.order_id] = attrs.evolve(found, refunded=found.refunded + refund.amount)
        return True

    def get_refund(self, refund_order_id: str) -> MockRefund | None:
        return self._refunds.get(refund_order_id)

    def settle_refund(self, refund_order_id: str) -> MockRefund | None:
        """Settle a pending refund as its outcome; the settled refund, or None when it was not
        pending (another caller settled it)."""
        found = self._refunds.get(refund_order_id)
        if found is None or found.state is not RefundState.PENDING:
            return None
        settled = self._refunds[refund_order_id] = attrs.evolve(found, state=found.outcome)
        if settled.state is RefundState.FAILED:
            order = self._orders[found.order_id]
            self._orders[found.order_id] = attrs.evolve(order, refunded=order.refunded - found.amount)
        return settled

    def refund_exists(self, refund_order_id: str) -> bool:
        return refund_order_id in self._refunds


_SCHEMA = """
CREATE TABLE IF NOT EXISTS mock_orders (
    order_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL,
    description TEXT NOT NULL, payment_method TEXT NOT NULL, expires_at TEXT NOT NULL, notify_url TEXT NOT NULL,
    return_url TEXT, state TEXT NOT NULL, refunded INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL DEFAULT '[]',
    flow TEXT, save_method INTEGER NOT NULL DEFAULT 0, customer_reference TEXT, card TEXT NOT NULL DEFAULT 'ok');
CREATE INDEX IF NOT EXISTS mock_orders_session ON mock_orders (session_id);
CREATE TABLE IF NOT EXISTS mock_saved_methods (
    token TEXT PRIMARY KEY, order_id TEXT NOT NULL, payment_method TEXT NOT NULL, card TEXT NOT NULL,
    customer_reference TEXT, detached INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS mock_refunds (
    refund_order_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'succeeded', outcome TEXT NOT NULL DEFAULT 'succeeded', failure_reason TEXT,
    settles_at TEXT, notify_url TEXT);
"""
_REFUND_COLUMNS = "refund_order_id, order_id, amount, state, outcome, failure_reason, settles_at, notify_url"
# Columns added to mock_refunds since its first version (files written before: refunds settled at once).
_LATER_REFUND_COLUMNS = (("state", "TEXT NOT NULL DEFAULT 'succeeded'"), ("outcome", "TEXT NOT NULL DEFAULT 'succeeded'"),
                         ("failure_reason", "TEXT"), ("settles_at", "TEXT"), ("notify_url", "TEXT"))
_COLUMNS = ("order_id, session_id, amount, currency, description, payment_method, expires_at, notify_url, "
            "return_url, state, refunded, lines, flow, save_method, customer_reference, card")
# Columns added to mock_orders since its first version (files written before have none of them).
_LATER_ORDER_COLUMNS = (("lines", "TEXT NOT NULL DEFAULT '[]'"), ("flow", "TEXT"),
                        ("save_method", "INTEGER NOT NULL DEFAULT 0"), ("customer_reference", "TEXT"),
                        ("card", "TEXT NOT NULL DEFAULT 'ok'"))
_SAVED_COLUMNS = "token, order_id, payment_method, card, customer_reference, detached"


class SqliteRemote:
    """The remote side in a SQLite file shared by the service's processes. Each statement is
    short; durability is relaxed on purpose (it is a development stand-in, not a ledger)."""

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock:
            self._connection.execute("PRAGMA journal_mode = WAL")
            self._connection.execute("PRAGMA synchronous = OFF")
            self._connection.executescript(_SCHEMA)
            columns = {row[1] for row in self._connection.execute("PRAGMA table_info(mock_orders)")}
            for name, definition in _LATER_ORDER_COLUMNS:  # a file written before the orders had lines, …
                if name not in columns:
                    self._connection.execute(f"ALTER TABLE mock_orders ADD COLUMN {name} {definition}")
            refund_columns = {row[1] for row in self._connection.execute("PRAGMA table_info(mock_refunds)")}
            for name, definition in _LATER_REFUND_COLUMNS:  # … or before refunds settled later
                if name not in refund_columns:
                    self._connection.execute(f"ALTER TABLE mock_refunds ADD COLUMN {name} {definition}")

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    def _one(self, sql: str, *args) -> tuple | None:
        with self._lock:
            return self._connection.execute(sql, args).fetchone()

    def _run(self, sql: str, *args) -> int:
        with self._lock:
            return self._connection.execute(sql, args).rowcount

    def open(self, order: PaymentOrder, state: PaymentState = PaymentState.PENDING) -> MockOrder:
        if self._run(f"INSERT OR IGNORE INTO mock_orders ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,'ok')",
                  order.order_id, order.session_id, order.amount.amount, order.amount.currency.code,
                  order.description, order.payment_method, order.expires_at.isoformat(), order.notify_url,
                  order.return_url, state.value, _lines_json(order.lines),
                  order.flow.value if order.flow is not None else None, int(order.save_method),
                  order.customer_reference):
            return MockOrder(order, state, 0)
        found = self.get(order.order_id)
        assert found is not None
        if not same_order(found.order, order):
            raise OrderConflictError(order.order_id)
        return found

    def get(self, order_id: str) -> MockOrder | None:
        return _order(self._one(f"SELECT {_COLUMNS} FROM mock_orders WHERE order_id = ?", order_id))

    def by_session(self, session_id: str) -> MockOrder | None:
        return _order(self._one(f"SELECT {_COLUMNS} FROM mock_orders WHERE session_id = ?", session_id))

    def set_state(self, order_id: str, state: PaymentState, card: str | None = None) -> None:
        self._run("UPDATE mock_orders SET state = ?, card = COALESCE(?, card) WHERE order_id = ?",
                  state.value, card, order_id)

    def save_method(self, saved: MockSavedMethod) -> MockSavedMethod:
        """As `InMemoryRemote.save_method`, across processes."""
        self._run(f"INSERT OR IGNORE INTO mock_saved_methods ({_SAVED_COLUMNS}) VALUES (?,?,?,?,?,0)",
                  saved.token, saved.order_id, saved.payment_method, saved.card, saved.customer_reference)
        stored = self.saved_method(saved.token)
        assert stored is not None
        return stored

    def saved_method(self, token: str) -> MockSavedMethod | None:
        row = self._one(f"SELECT {_SAVED_COLUMNS} FROM mock_saved_methods WHERE token = ?", token)
        if row is None:
            return None
        token, order_id, payment_method, card, customer_reference, detached = row
        return MockSavedMethod(token, order_id, payment_method, card, customer_reference, bool(detached))

    def detach(self, token: str) -> None:
        self._run("UPDATE mock_saved_methods SET detached = 1 WHERE token = ?", token)

    def refund(self, refund: MockRefund) -> bool:
        """As `InMemoryRemote.refund`, in one transaction across processes."""
        values = (refund.refund_order_id, refund.order_id, refund.amount, refund.state.value, refund.outcome.value,
                  refund.failure_reason, refund.settles_at.isoformat() if refund.settles_at else None, refund.notify_url)
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                written = self._connection.execute(
                    f"INSERT INTO mock_refunds ({_REFUND_COLUMNS}) VALUES (?,?,?,?,?,?,?,?) "
                    "ON CONFLICT (refund_order_id) DO UPDATE SET amount = excluded.amount, state = excluded.state, "
                    "outcome = excluded.outcome, failure_reason = excluded.failure_reason, "
                    "settles_at = excluded.settles_at, notify_url = excluded.notify_url "
                    "WHERE mock_refunds.state = 'failed'", values).rowcount
                if written and refund.state is not RefundState.FAILED:
                    self._connection.execute("UPDATE mock_orders SET refunded = refunded + ? WHERE order_id = ?",
                                             (refund.amount, refund.order_id))
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        return bool(written)

    def get_refund(self, refund_order_id: str) -> MockRefund | None:
        return _refund(self._one(f"SELECT {_REFUND_COLUMNS} FROM mock_refunds WHERE refund_order_id = ?",
                                 refund_order_id))

    def settle_refund(self, refund_order_id: str) -> MockRefund | None:
        """As `InMemoryRemote.settle_refund`: the first caller in any process settles it."""
        with self._lock:
            try:
                self._connection.execute("BEGIN IMMEDIATE")
                settled = self._connection.execute(
                    "UPDATE mock_refunds SET state = outcome WHERE refund_order_id = ? AND state = 'pending'",
                    (refund_order_id,)).rowcount
                row = self._connection.execute(f"SELECT {_REFUND_COLUMNS} FROM mock_refunds WHERE refund_order_id = ?",
                                               (refund_order_id,)).fetchone()
                if settled and row[3] == RefundState.FAILED.value:
                    self._connection.execute("UPDATE mock_orders SET refunded = refunded - ? WHERE order_id = ?",
                                             (row[2], row[1]))
                self._connection.execute("COMMIT")
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
        return _refund(row) if settled else None

    def refund_exists(self, refund_order_id: str) -> bool:
        return self._one("SELECT 1 FROM mock_refunds WHERE refund_order_id = ?", refund_order_id) is not None


def _refund(row: tuple | None) -> MockRefund | None:
    if row is None:
        return None
    refund_order_id, order_id, amount, state, outcome, failure_reason, settles_at, notify_url = row
    return MockRefund(refund_order_id, order_id, amount, RefundState(state), RefundState(outcome), failure_reason,
                      datetime.fromisoformat(settles_at) if settles_at else _EPOCH, notify_url)


def _order(row: tuple | None) -> MockOrder | None:
    if row is None:
        return None
    (order_id, session_id, amount, currency, description, method, expires_at, notify_url, return_url,
     state, refunded, lines, flow, save_method, customer_reference, card) = row
    order = PaymentOrder(order_id=order_id, session_id=session_id, amount=Money(amount, Currency.of(currency)),
                         description=description, payment_method=method,
                         expires_at=datetime.fromisoformat(expires_at), notify_url=notify_url, return_url=return_url,
                         lines=tuple(OrderLine(LineKind(line["kind"]), Money(line["amount"], Currency.of(line["currency"])),
                                               line["quantity"], line["plan"]) for line in json.loads(lines)),
                         flow=Flow(flow) if flow else None, save_method=bool(save_method),
                         customer_reference=customer_reference)
    return MockOrder(order, PaymentState(state), refunded, card or "ok")


def _lines_json(lines: tuple[OrderLine, ...]) -> str:
    return json.dumps([{"kind": line.kind.value, "amount": line.amount.amount, "currency": line.amount.currency.code,
                        "quantity": line.quantity, "plan": line.plan} for line in lines])
