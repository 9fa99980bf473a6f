"""Rate limits through HTTP (docs/risk.md): POSTs per user, webhooks per client address (behind
trusted proxies by X-Forwarded-For), 429 `rate_limited` with Retry-After and details {}; admin and
service tokens unlimited; per process without Redis."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.asyncio

CONSUME = "/api/v1/internal/receives/consume"
CANCEL = "/api/v1/payments/cancel"
WEBHOOK = "/api/v1/payments/webhooks/mock"


async def test_posts_per_user_over_the_limit_are_429_with_retry_after(make_api):
    api = await make_api(PAYMENTS_RATE_LIMIT_PER_MINUTE="3")
    for _ in range(3):  # refused by the handler (no such transaction), counted all the same
        response = await api.post(CANCEL, {"transaction_id": "txn_nothing"}, user="greedy")
        assert response.status != 429
    response = await api.post(CANCEL, {"transaction_id": "txn_nothing"}, user="greedy")
    assert response.status == 429
    body = await response.json()
    assert body["error"]["code"] == "rate_limited" and body["error"]["details"] == {}
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    # Another user is counted apart; reads are never limited.
    assert (await api.post(CANCEL, {"transaction_id": "txn_nothing"}, user="other")).status != 429
    assert (await api.get("/api/v1/payments/membership", user="greedy")).status == 200


async def test_admin_and_service_tokens_are_not_limited(make_api):
    api = await make_api(PAYMENTS_RATE_LIMIT_PER_MINUTE="1")
    for _ in range(4):
        response = await api.post(CONSUME, {"user_id": "u9", "count": 1, "reference": "r"}, user="svc", role="service")
        assert response.status != 429
        response = await api.post("/api/v1/admin/users/u9/unblock", {}, user="boss", role="admin")
        assert response.status != 429


async def test_webhooks_are_limited_per_client_address(make_api):
    api = await make_api(PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE="2")
    statuses = [(await api.client.post(WEBHOOK, data=b"{}")).status for _ in range(3)]
    assert statuses[:2] != [429, 429] and 429 not in statuses[:2]
    assert statuses[2] == 429


async def test_x_forwarded_for_is_believed_only_from_trusted_proxies(make_api):
    untrusted = await make_api(PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE="1")
    # Not behind a trusted proxy: a client cannot pick a fresh address per call.
    await untrusted.client.post(WEBHOOK, data=b"{}", headers={"X-Forwarded-For": "203.0.113.1"})
    response = await untrusted.client.post(WEBHOOK, data=b"{}", headers={"X-Forwarded-For": "203.0.113.2"})
    assert response.status == 429

    proxied = await make_api(PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE="1", PAYMENTS_TRUSTED_PROXIES="127.0.0.0/8")
    first = await proxied.client.post(WEBHOOK, data=b"{}", headers={"X-Forwarded-For": "203.0.113.1"})
    second = await proxied.client.post(WEBHOOK, data=b"{}", headers={"X-Forwarded-For": "203.0.113.2"})
    assert first.status != 429 and second.status != 429  # two clients behind the proxy
    # A client that writes its own X-Forwarded-For entry is still counted by the entry the proxy added.
    spoofed = await proxied.client.post(WEBHOOK, data=b"{}", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.1"})
    assert spoofed.status == 429
