"""The mock's remote side keeps an order's lines (port 1.2) in its SQLite file, and a file written
before orders had lines gains the column and keeps its orders."""
import sqlite3
from datetime import datetime, timezone

import attrs

from domain.money import CNY, Money
from plugins.mock.remote import InMemoryRemote, OrderConflictError, SqliteRemote
from ports.payment_provider import LineKind, OrderLine, PaymentOrder, PaymentState

ORDER = PaymentOrder(order_id="S20260301ABCDEF", session_id="ps_1", amount=Money(1700, CNY), description="10 receives",
                     payment_method="wechat_pay", expires_at=datetime(2026, 3, 1, 1, tzinfo=timezone.utc),
                     notify_url="http://payments.test/api/v1/payments/webhooks/mock",
                     return_url="http://localhost:3000/paid",
                     lines=(OrderLine(LineKind.RECEIVES, Money(2000, CNY), quantity=10),
                            OrderLine(LineKind.DISCOUNT, Money(300, CNY))))


def test_an_orders_lines_survive_the_sqlite_file(tmp_path):
    path = str(tmp_path / "mock.sqlite3")
    SqliteRemote(path).open(ORDER)

    reread = SqliteRemote(path)  # another process's view of the same file

    assert reread.by_session("ps_1").order == ORDER
    assert reread.open(ORDER).order == ORDER  # the same order again is no conflict


def test_the_same_order_id_with_other_lines_is_a_conflict(tmp_path):
    for remote in (SqliteRemote(str(tmp_path / "mock.sqlite3")), InMemoryRemote()):
        remote.open(ORDER)
        other = attrs.evolve(ORDER, lines=(OrderLine(LineKind.RECEIVES, Money(1700, CNY), quantity=10),))
        try:
            remote.open(other)
        except OrderConflictError:
            continue
        raise AssertionError(f"{type(remote).__name__} took other lines for the same order")


def test_a_file_from_before_lines_gains_them_and_keeps_its_orders(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript("""
            CREATE TABLE mock_orders (order_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount INTEGER NOT NULL,
                currency TEXT NOT NULL, description TEXT NOT NULL, payment_method TEXT NOT NULL,
                expires_at TEXT NOT NULL, notify_url TEXT NOT NULL, return_url TEXT, state TEXT NOT NULL,
                refunded INTEGER NOT NULL DEFAULT 0);
            CREATE TABLE mock_refunds (refund_order_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount INTEGER NOT NULL);
            INSERT INTO mock_orders VALUES ('S20260301OLD001', 'ps_old', 900, 'CNY', '5 receives', 'alipay',
                '2026-03-01T01:00:00+00:00', 'http://payments.test/n', NULL, 'succeeded', 0);
        """)
    old.close()

    remote = SqliteRemote(str(path))

    found = remote.by_session("ps_old")
    assert (found.order.amount, found.order.lines, found.state) == (Money(900, CNY), (), PaymentState.SUCCEEDED)
    remote.open(ORDER)
    assert remote.by_session("ps_1").order.lines == ORDER.lines
