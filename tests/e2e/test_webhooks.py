"""POST /api/v1/payments/webhooks/{provider}: signed provider notifications (the mock's), and the
plugin's acknowledgement served as the plugin wrote it (any valid Content-Type)."""
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from dependency_injector import providers

from e2e_support import (
    JWT_SECRET,
    MOCK_SECRET,
    MOCK_WEBHOOK,
    SESSIONS,
    buy,
    change_plan,
    deliver,
    error_of,
    membership,
    mock_provider,
    ok,
    pay,
    session,
    transaction,
)
from entrypoints.cli import mint_token
from entrypoints.config import load_config
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from plugins.mock import MockProvider
from ports.payment_provider import Acknowledgement, NotificationOutcome


def notification(payment_session: dict, created: int, **changes) -> bytes:
    """A mock notification for `payment_session` as the mock would write it, with `changes`."""
    return json.dumps({"id": f"evt_{payment_session['id']}_{created}", "type": "payment.succeeded",
                       "session_id": payment_session["id"], "order_id": payment_session["order_id"],
                       "amount": payment_session["amount"], "currency": "CNY", "created": created, **changes},
                      separators=(",", ":")).encode()


def signature(body: bytes, timestamp: int, secret: str | None = None) -> str:
    """`Mock-Signature` of `body` at `timestamp`, keyed with the app's PAYMENTS_MOCK_WEBHOOK_SECRET."""
    key = (secret or MOCK_SECRET).encode()
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


async def unchanged(api, bought: dict, balance_before: int) -> None:
    """Nothing happened to `bought`: still pending with its session open, the balance as before."""
    detail = await transaction(api, bought["transaction"]["id"])
    assert detail["transaction"]["status"] == "pending"
    assert [s["status"] for s in detail["sessions"]] == ["open"]
    assert (await membership(api))["receives"]["balance"] == balance_before


@pytest.fixture
async def purchase(fixed_api):
    """u1 started buying 10 receives (1700 fen) on the fixed clock."""
    return await buy(fixed_api, 10)


async def test_a_signed_payment_notification_is_acknowledged_and_credits_the_receives(fixed_api, purchase):
    mock = await mock_provider(fixed_api)
    headers, body = mock.settle(purchase["session"]["order_id"], True)

    response = await deliver(fixed_api, headers, body)

    assert (response.status, await response.json()) == (200, {"received": True})
    detail = await transaction(fixed_api, purchase["transaction"]["id"])
    assert detail["transaction"]["status"] == "succeeded"
    assert [s["status"] for s in detail["sessions"]] == ["completed"]
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_a_notification_delivered_twice_is_applied_once(fixed_api, purchase):
    mock = await mock_provider(fixed_api)
    headers, body = mock.settle(purchase["session"]["order_id"], True)

    first = await deliver(fixed_api, headers, body)
    second = await deliver(fixed_api, headers, body)

    assert (first.status, second.status) == (200, 200)
    assert await second.json() == {"received": True}
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_a_second_event_for_an_already_paid_session_credits_nothing_more(fixed_api, purchase):
    await pay(fixed_api, purchase["session"])
    await pay(fixed_api, purchase["session"])  # the mock re-sends under a new event id

    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_a_declined_payment_fails_the_session_but_keeps_the_transaction_pending(fixed_api, purchase):
    await pay(fixed_api, purchase["session"], succeeded=False)

    detail = await transaction(fixed_api, purchase["transaction"]["id"])
    assert (detail["transaction"]["status"], detail["transaction"]["failure_reason"]) == ("pending", "declined")
    assert [s["status"] for s in detail["sessions"]] == ["failed"]
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 0


async def test_a_notification_needs_no_bearer_token_and_ignores_one(fixed_api, purchase):
    mock = await mock_provider(fixed_api)
    headers, body = mock.settle(purchase["session"]["order_id"], True)

    response = await fixed_api.client.post(MOCK_WEBHOOK, data=body,
                                           headers={**headers, "Authorization": "Bearer not-a-jwt"})

    assert response.status == 200


async def test_a_notification_without_a_signature_is_refused_and_changes_nothing(fixed_api, clock, purchase):
    body = notification(purchase["session"], int(clock.now().timestamp()))

    response = await deliver(fixed_api, {"Content-Type": "application/json"}, body)

    await error_of(response, 401, "unauthorized", charset=None)
    await unchanged(fixed_api, purchase, 3)


@pytest.mark.parametrize("case", ["wrong secret", "stale", "from the future", "tampered body", "garbage header",
                                  "no timestamp", "signature of another body"])
async def test_a_notification_with_a_bad_signature_is_refused_and_changes_nothing(fixed_api, clock, purchase, case):
    now = int(clock.now().timestamp())
    body = notification(purchase["session"], now)
    header = {
        "wrong secret": lambda: signature(body, now, "another-secret"),
        "stale": lambda: signature(body, now - 301),
        "from the future": lambda: signature(body, now + 301),
        "tampered body": lambda: signature(notification(purchase["session"], now, amount=1), now),
        "garbage header": lambda: "nonsense",
        "no timestamp": lambda: signature(body, now).split(",", 1)[1],
        "signature of another body": lambda: signature(body + b" ", now),
    }[case]()

    response = await deliver(fixed_api, {"Mock-Signature": header, "Content-Type": "application/json"}, body)

    await error_of(response, 401, "unauthorized", charset=None)
    await unchanged(fixed_api, purchase, 3)


async def test_a_signature_just_inside_the_tolerance_is_accepted(fixed_api, clock, purchase):
    now = int(clock.now().timestamp())
    body = notification(purchase["session"], now - 300)

    response = await deliver(fixed_api, {"Mock-Signature": signature(body, now - 300)}, body)

    assert (response.status, await response.json()) == (200, {"received": True})
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


@pytest.mark.parametrize("changes", [{"amount": 1}, {"amount": 170000}, {"currency": "USD"},
                                     {"order_id": "S20260301UNKNOWN00000"}])
async def test_an_authentic_notification_that_does_not_match_its_order_is_acknowledged_and_changes_nothing(
        fixed_api, clock, purchase, changes):
    now = int(clock.now().timestamp())
    body = notification(purchase["session"], now, **changes)

    response = await deliver(fixed_api, {"Mock-Signature": signature(body, now)}, body)

    assert (response.status, await response.json()) == (200, {"received": True})
    await unchanged(fixed_api, purchase, 3)


async def test_an_unreadable_but_signed_notification_is_refused_and_changes_nothing(fixed_api, clock, purchase):
    now = int(clock.now().timestamp())
    body = b"{\"type\": \"payment.succeeded\"}"

    response = await deliver(fixed_api, {"Mock-Signature": signature(body, now)}, body)

    await error_of(response, 401, "unauthorized", charset=None)
    await unchanged(fixed_api, purchase, 3)


async def test_a_notification_for_an_unknown_provider_is_not_found(fixed_api, purchase):
    mock = await mock_provider(fixed_api)
    headers, body = mock.settle(purchase["session"]["order_id"], True)

    response = await deliver(fixed_api, headers, body, provider="paypal")

    await error_of(response, 404, "not_found")
    await unchanged(fixed_api, purchase, 3)


async def test_a_payment_that_arrives_after_cancelling_is_not_lost(fixed_api, purchase):
    await ok(await fixed_api.post("/api/v1/payments/cancel", {"transaction_id": purchase["transaction"]["id"]}))

    await pay(fixed_api, purchase["session"])

    assert (await transaction(fixed_api, purchase["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_a_payment_that_arrives_after_the_session_expired_is_not_lost(fixed_api, clock, purchase):
    clock.advance(timedelta(hours=2))

    await pay(fixed_api, purchase["session"])

    assert (await transaction(fixed_api, purchase["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_a_transaction_paid_through_two_sessions_is_credited_once_and_the_second_is_refunded(
        fixed_api, purchase):
    second = await ok(await fixed_api.post(SESSIONS, {"transaction_id": purchase["transaction"]["id"],
                                                      "payment_method": "alipay"}), 201)
    await pay(fixed_api, second)

    await pay(fixed_api, purchase["session"])  # the payer had scanned the first code too

    assert (await session(fixed_api, purchase["session"]["id"]))["status"] == "refunded"
    assert (await session(fixed_api, second["id"]))["status"] == "completed"
    detail = await transaction(fixed_api, purchase["transaction"]["id"])
    assert (detail["transaction"]["status"], detail["transaction"]["refunded_amount"]) == ("succeeded", 0)
    assert (await membership(fixed_api))["receives"]["purchased_remaining"] == 10


async def test_paying_an_upgrade_through_the_webhook_changes_the_plan(fixed_api):
    status, started = await change_plan(fixed_api, "vip", "wechat_pay")
    assert status == 201

    await pay(fixed_api, started["session"])

    assert (await membership(fixed_api))["plan"] == "vip"


async def test_the_webhook_accepts_only_post(fixed_api):
    await error_of(await fixed_api.client.get(MOCK_WEBHOOK), 405, "method_not_allowed")


async def test_an_oversized_notification_is_refused_with_413_and_changes_nothing(fixed_api, clock, purchase):
    now = int(clock.now().timestamp())
    body = notification(purchase["session"], now, padding="x" * 100_000)

    response = await deliver(fixed_api, {"Mock-Signature": signature(body, now)}, body)

    await error_of(response, 413, "payload_too_large")
    await unchanged(fixed_api, purchase, 3)


# ---------------------------------------------------------------------- the acknowledgement as the plugin wrote it
@pytest.mark.parametrize("outcome", [NotificationOutcome.ACCEPTED, NotificationOutcome.REJECTED])
async def test_the_answer_is_the_plugins_acknowledgement_byte_for_byte(fixed_api, clock, purchase, outcome):
    mock = await mock_provider(fixed_api)
    headers, body = mock.settle(purchase["session"]["order_id"], True)
    if outcome is NotificationOutcome.REJECTED:
        headers = {**headers, "Mock-Signature": signature(body, int(clock.now().timestamp()), "not-the-secret")}

    response = await deliver(fixed_api, headers, body)

    expected = mock.acknowledge(outcome)
    assert (response.status, response.headers["Content-Type"], await response.read()) == \
        (expected.status, expected.content_type, expected.body)


class PlainTextMock(MockProvider):
    """The mock, acknowledging as Alipay does: plain text, its charset after a `;` without a space."""

    def acknowledge(self, outcome: NotificationOutcome) -> Acknowledgement:
        status = super().acknowledge(outcome).status
        return Acknowledgement(status, "text/plain;charset=utf-8", b"success" if status == 200 else b"fail")


class Api:
    """A test client of an app built here, with a member's token (what e2e_support's helpers use)."""

    def __init__(self, client, container) -> None:
        self.client, self.container = client, container

    @staticmethod
    def _headers(user):
        return {"Authorization": f"Bearer {mint_token(JWT_SECRET, user, None, 3600)}"} if user else {}

    async def get(self, path, *, user="u1", **kwargs):
        return await self.client.get(path, headers=self._headers(user), **kwargs)

    async def post(self, path, json=None, *, user="u1", **kwargs):
        return await self.client.post(path, json=json, headers=self._headers(user), **kwargs)


@pytest.fixture
async def plain_text_api(aiohttp_client, clock):
    """The app (in-memory adapters, fixed clock) with `PlainTextMock` as its mock provider."""
    config = load_config({"PAYMENTS_JWT_SECRET": JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": MOCK_SECRET,
                          "PAYMENTS_PUBLIC_URL": "http://payments.test"})
    container = build_container(config, in_memory=True)
    mock = PlainTextMock(webhook_secret=MOCK_SECRET, public_url=config.public_url, clock=clock)
    for in_memory_adapters in container.adapters.overridden:
        in_memory_adapters.provides.clock.override(providers.Object(clock))
        in_memory_adapters.provides.payment_providers.override(providers.Object({"mock": mock}))
    return Api(await aiohttp_client(create_app(container, background_jobs=False)), container)


async def test_a_plain_text_acknowledgement_with_its_charset_is_answered_verbatim_once_the_payment_is_applied(
        plain_text_api, clock):
    bought = await buy(plain_text_api, 10)
    mock = await mock_provider(plain_text_api)
    headers, body = mock.settle(bought["session"]["order_id"], True)

    response = await deliver(plain_text_api, headers, body)

    assert (response.status, response.headers["Content-Type"], await response.read()) == \
        (200, "text/plain;charset=utf-8", b"success")
    assert (await transaction(plain_text_api, bought["transaction"]["id"]))["transaction"]["status"] == "succeeded"
    assert (await membership(plain_text_api))["receives"]["purchased_remaining"] == 10


async def test_a_plain_text_refusal_is_a_401_in_the_plugins_words(plain_text_api, clock):
    bought = await buy(plain_text_api, 10)
    body = notification(bought["session"], int(clock.now().timestamp()))

    response = await deliver(plain_text_api, {"Mock-Signature": signature(body, int(clock.now().timestamp()), "x")},
                             body)

    assert (response.status, response.headers["Content-Type"], await response.read()) == \
        (401, "text/plain;charset=utf-8", b"fail")
    assert (await transaction(plain_text_api, bought["transaction"]["id"]))["transaction"]["status"] == "pending"
