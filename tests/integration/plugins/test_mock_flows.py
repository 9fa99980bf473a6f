"""The mock offers every flow for every method (port 1.3), keeping each method's first flow (its
default), and keeps an order's flow with its remote order: in its SQLite file (read back by
another process; a file written before orders had flows gains the column and keeps its orders),
as part of what makes "the same order again". Its instructions fit the flow: the page's URL as a
code to scan for `qr_code` only."""
import sqlite3
from datetime import datetime, timezone

import attrs
import pytest

from adapters.clock import FixedClock
from domain.money import CNY, Money
from plugins.mock import MockProvider
from plugins.mock.remote import InMemoryRemote, OrderConflictError, SqliteRemote
from ports.payment_provider import PORT_VERSION, Flow, PaymentOrder, port_supports

NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
ORDER = PaymentOrder(order_id="S20260301FLOW01", session_id="ps_1", amount=Money(1700, CNY), description="10 receives",
                     payment_method="alipay", expires_at=datetime(2026, 3, 1, 1, tzinfo=timezone.utc),
                     notify_url="http://payments.test/api/v1/payments/webhooks/mock", flow=Flow.MOBILE_REDIRECT)


def a_mock(remote=None) -> MockProvider:
    return MockProvider(webhook_secret="s", public_url="http://payments.test", clock=FixedClock(NOW), remote=remote)


def test_every_method_offers_every_flow_and_keeps_its_first():
    mock = a_mock()

    flows = {m.id: m.flows for m in mock.capabilities.methods}

    assert all(set(offered) == set(Flow) for offered in flows.values()), flows
    assert {method: offered[0] for method, offered in flows.items()} == {
        "wechat_pay": Flow.QR_CODE, "alipay": Flow.QR_CODE, "credit_card": Flow.REDIRECT, "mock": Flow.QR_CODE}
    assert MockProvider.requires_port >= (1, 3) and port_supports(MockProvider.requires_port)
    assert PORT_VERSION >= (1, 3)


@pytest.mark.parametrize("flow", list(Flow))
async def test_the_instructions_fit_the_flow(flow):
    mock = a_mock()

    instructions = await mock.open_payment(attrs.evolve(ORDER, flow=flow))

    assert instructions.payment_url == "http://payments.test/mock-checkout/ps_1"
    assert instructions.qr_code == (instructions.payment_url if flow is Flow.QR_CODE else None)
    assert mock.order_for_session("ps_1").order.flow is flow


@pytest.mark.parametrize("method, shows_code", [("alipay", True), ("credit_card", False)])
async def test_an_order_without_a_flow_takes_its_methods_first(method, shows_code):
    instructions = await a_mock().open_payment(attrs.evolve(ORDER, payment_method=method, flow=None))

    assert (instructions.qr_code is not None) is shows_code


def test_an_orders_flow_survives_the_sqlite_file(tmp_path):
    path = str(tmp_path / "mock.sqlite3")
    SqliteRemote(path).open(ORDER)

    reread = SqliteRemote(path)  # another process's view of the same file

    assert reread.by_session("ps_1").order == ORDER
    assert reread.open(ORDER).order == ORDER  # the same order again is no conflict


def test_the_same_order_id_with_another_flow_is_a_conflict(tmp_path):
    for remote in (SqliteRemote(str(tmp_path / "mock.sqlite3")), InMemoryRemote()):
        remote.open(ORDER)
        with pytest.raises(OrderConflictError):
            remote.open(attrs.evolve(ORDER, flow=Flow.QR_CODE))


def test_a_file_from_before_flows_gains_them_and_its_orders_open_again_with_any_flow(tmp_path):
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as old:
        old.executescript("""
            CREATE TABLE mock_orders (order_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, amount INTEGER NOT NULL,
                currency TEXT NOT NULL, description TEXT NOT NULL, payment_method TEXT NOT NULL,
                expires_at TEXT NOT NULL, notify_url TEXT NOT NULL, return_url TEXT, state TEXT NOT NULL,
                refunded INTEGER NOT NULL DEFAULT 0, lines TEXT NOT NULL DEFAULT '[]');
            CREATE TABLE mock_refunds (refund_order_id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount INTEGER NOT NULL);
            INSERT INTO mock_orders VALUES ('S20260301FLOW01', 'ps_1', 1700, 'CNY', '10 receives', 'alipay',
                '2026-03-01T01:00:00+00:00', 'http://payments.test/api/v1/payments/webhooks/mock', NULL, 'pending',
                0, '[]');
        """)
    old.close()

    remote = SqliteRemote(str(path))

    assert remote.by_session("ps_1").order.flow is None
    assert remote.open(ORDER).order.flow is None  # stored before flows: the same order, whatever flow is asked
