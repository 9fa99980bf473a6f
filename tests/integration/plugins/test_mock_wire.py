"""The mock's wire format pinned from the contract's description, independently of `plugins.mock.wire`
(the signature recomputed here by hand), and the pages it offers through the port's hook."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest
from aiohttp import web

from adapters.clock import FixedClock
from domain.errors import InvalidSignatureError
from domain.money import CNY, Money
from plugins.mock import MockProvider
from ports.payment_provider import PORT_VERSION, ProviderEventKind, port_supports

SECRET = "wire-secret"
NOW = datetime(2026, 3, 1, 12, tzinfo=timezone.utc)


@pytest.fixture
def mock() -> MockProvider:
    return MockProvider(webhook_secret=SECRET, public_url="http://payments.test/", clock=FixedClock(NOW))


def by_hand(event: dict, timestamp: int) -> tuple[dict, bytes]:
    body = json.dumps(event).encode()
    mac = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Mock-Signature": f"t={timestamp},v1={mac}"}, body


EVENT = {"id": "evt_1", "type": "payment.succeeded", "session_id": "ps_1", "order_id": "C1234567",
         "amount": 1700, "currency": "CNY", "created": int(NOW.timestamp())}


def test_a_notification_signed_as_the_contract_says_is_read(mock):
    event = mock.parse_notification(*by_hand(EVENT, int(NOW.timestamp())))

    assert (event.event_id, event.kind, event.order_id, event.amount) == (
        "evt_1", ProviderEventKind.PAYMENT_SUCCEEDED, "C1234567", Money(1700, CNY))


def test_a_re_delivery_signed_again_later_is_the_same_event(mock):
    first = mock.parse_notification(*by_hand(EVENT, int(NOW.timestamp()) - 120))
    again = mock.parse_notification(*by_hand(EVENT, int(NOW.timestamp())))

    assert first.event_id == again.event_id == "evt_1"


def test_an_unknown_currency_is_reported_as_it_is_so_the_core_sees_a_mismatch_not_a_forgery(mock):
    event = mock.parse_notification(*by_hand({**EVENT, "currency": "XTS"}, int(NOW.timestamp())))

    assert (event.amount.currency.code, event.amount.amount) == ("XTS", 1700)


@pytest.mark.parametrize("t", ["\u0661\u0667\u0667", "+1772366400", " 1772366400", "1_772_366_400", "9" * 40])
def test_a_timestamp_that_is_not_plain_unix_seconds_is_refused(mock, t):
    headers, body = by_hand(EVENT, int(NOW.timestamp()))
    v1 = headers["Mock-Signature"].split(",")[1]

    with pytest.raises(InvalidSignatureError):
        mock.parse_notification({"Mock-Signature": f"t={t},{v1}"}, body)


def test_the_mock_declares_the_port_it_needs_and_offers_its_checkout_page_through_the_hook(mock):
    routes = mock.web_routes()

    assert port_supports(mock.requires_port) and mock.requires_port <= PORT_VERSION
    assert [(r.method, r.path) for r in routes] == [("GET", "/mock-checkout/{session_id}"),
                                                    ("POST", "/mock-checkout/{session_id}")]
    assert all(isinstance(r, web.RouteDef) for r in routes)
    assert mock.checkout_url("ps_1") == "http://payments.test/mock-checkout/ps_1"
