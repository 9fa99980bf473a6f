"""Helpers of the end-to-end tests: the contract's object shapes, error checks, and short ways to
buy, pay and deliver provider notifications through HTTP."""
from __future__ import annotations

import inspect
import re
from datetime import datetime

RECEIVES = "/api/v1/payments/receives"
PLAN = "/api/v1/payments/plan"
TRANSACTIONS = "/api/v1/payments/transactions"
METHODS = "/api/v1/payments/methods"
SESSIONS = "/api/v1/payments/sessions"
CANCEL = "/api/v1/payments/cancel"
MEMBERSHIP = "/api/v1/payments/membership"
PRICING = "/api/v1/payments/pricing"
CONSUME = "/api/v1/internal/receives/consume"
MOCK_WEBHOOK = "/api/v1/payments/webhooks/mock"

# The secrets `conftest.e2e_config` gives every app under test (kept equal to it by a test in
# test_auth.py, so that tokens and signatures forged here are the ones the app checks).
JWT_SECRET = "e2e-test-secret-that-is-long-enough-0123456789"
MOCK_SECRET = "e2e-mock-secret"

TRANSACTION_KEYS = {"id", "order_id", "type", "status", "receives", "plan_from", "plan_to", "subtotal", "discount",
                    "total", "currency", "payment_method", "provider", "refunded_amount", "cancel_reason",
                    "failure_reason", "created_at", "updated_at", "completed_at", "price_variant"}
SESSION_KEYS = {"id", "transaction_id", "order_id", "status", "payment_method", "provider", "amount", "currency",
                "payment_url", "qr_code", "qr_code_image", "expires_at", "created_at", "completed_at"}
MEMBERSHIP_KEYS = {"plan", "status", "current_period_start", "current_period_end", "scheduled_change", "receives",
                   "auto_renew", "renewal_method_id", "next_renewal_at", "grace_until"}
RECEIVES_KEYS = {"balance", "allowance_remaining", "purchased_remaining", "monthly_allowance"}
PAGE_KEYS = {"items", "page", "limit", "total", "has_more"}

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
ORDER_ID = re.compile(r"^[A-Za-z0-9]{6,32}$")
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


def is_int(value) -> bool:
    """An integer JSON number (booleans and floats are not)."""
    return type(value) is int


def is_timestamp(value) -> bool:
    return isinstance(value, str) and TIMESTAMP.match(value) is not None


def parse_timestamp(value: str) -> datetime:
    assert is_timestamp(value), value
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def assert_transaction(t: dict) -> dict:
    """`t` has exactly the contract's Transaction fields, money as integers, `Z` timestamps."""
    assert set(t) == TRANSACTION_KEYS, set(t) ^ TRANSACTION_KEYS
    assert t["id"].startswith("txn_")
    assert ORDER_ID.match(t["order_id"]), t["order_id"]
    assert t["type"] in {"purchase_receives", "plan_upgrade", "plan_downgrade", "plan_renewal"}
    assert t["status"] in {"pending", "succeeded", "failed", "cancelled", "expired", "refunded",
                           "partially_refunded"}
    for money in ("subtotal", "discount", "total", "refunded_amount"):
        assert is_int(t[money]), (money, t[money])
    assert t["subtotal"] - t["discount"] == t["total"]
    assert t["currency"] == "CNY"
    assert is_timestamp(t["created_at"]) and is_timestamp(t["updated_at"])
    assert t["completed_at"] is None or is_timestamp(t["completed_at"])
    assert t["price_variant"] is None or (isinstance(t["price_variant"], str) and "/" in t["price_variant"])
    return t


def assert_session(s: dict) -> dict:
    """`s` has exactly the contract's PaymentSession fields."""
    assert set(s) == SESSION_KEYS, set(s) ^ SESSION_KEYS
    assert s["id"].startswith("ps_") and s["transaction_id"].startswith("txn_")
    assert ORDER_ID.match(s["order_id"]), s["order_id"]
    assert s["status"] in {"open", "completed", "expired", "cancelled", "failed", "refunded"}
    assert is_int(s["amount"]) and s["currency"] == "CNY"
    assert is_timestamp(s["expires_at"]) and is_timestamp(s["created_at"])
    assert s["completed_at"] is None or is_timestamp(s["completed_at"])
    if s["qr_code"] or s["payment_url"]:
        assert s["qr_code_image"].startswith("data:image/svg+xml;base64,")
    return s


def assert_membership(m: dict) -> dict:
    """`m` has exactly the contract's Membership fields, with a consistent balance."""
    assert set(m) == MEMBERSHIP_KEYS, set(m) ^ MEMBERSHIP_KEYS
    assert m["plan"] in {"basic", "pro", "vip"}
    assert is_timestamp(m["current_period_start"]) and is_timestamp(m["current_period_end"])
    assert parse_timestamp(m["current_period_start"]) < parse_timestamp(m["current_period_end"])
    if m["scheduled_change"] is not None:
        assert set(m["scheduled_change"]) == {"plan", "effective_at"}
        assert is_timestamp(m["scheduled_change"]["effective_at"])
    receives = m["receives"]
    assert set(receives) == RECEIVES_KEYS, set(receives) ^ RECEIVES_KEYS
    assert all(is_int(v) for v in receives.values()), receives
    assert receives["balance"] == receives["allowance_remaining"] + receives["purchased_remaining"]
    assert m["status"] in {"active", "past_due"} and isinstance(m["auto_renew"], bool)
    assert m["next_renewal_at"] == (m["current_period_end"] if m["auto_renew"] else None)
    assert (m["grace_until"] is not None) == (m["status"] == "past_due") or m["status"] == "active"
    return m


async def error_of(response, status: int, code: str, *, charset: str | None = "utf-8") -> dict:
    """Check `response` is the contract's error `code` with `status`; returns the `error` object.
    (`charset=None`: a provider's own error format, whose Content-Type may name no charset.)"""
    body = await response.json()
    assert response.status == status, body
    assert response.content_type == "application/json"
    if charset is not None:
        assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error  # `details` on every error, `{}` at least
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict), error
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in error["details"].values())
    return error


async def ok(response, status: int = 200) -> dict:
    body = await response.json()
    assert response.status == status, body
    assert response.headers["Content-Type"] == JSON_CONTENT_TYPE
    return body


async def buy(api, amount: int = 10, method: str = "wechat_pay", *, user: str = "u1", **extra) -> dict:
    """Start a purchase through HTTP: `{"transaction", "session"}` (201 asserted)."""
    return await ok(await api.post(RECEIVES, {"amount": amount, "payment_method": method, **extra}, user=user), 201)


async def change_plan(api, new_plan: str, method: str | None = "alipay", *, user: str = "u1") -> tuple[int, dict]:
    body = {"new_plan": new_plan} if method is None else {"new_plan": new_plan, "payment_method": method}
    response = await api.post(PLAN, body, user=user)
    return response.status, await response.json()


async def membership(api, user: str = "u1") -> dict:
    return assert_membership(await ok(await api.get(MEMBERSHIP, user=user)))


async def transaction(api, transaction_id: str, user: str = "u1") -> dict:
    """`{"transaction", "sessions"}` of one of `user`'s transactions."""
    return await ok(await api.get(f"{TRANSACTIONS}/{transaction_id}", user=user))


async def session(api, session_id: str, user: str = "u1") -> dict:
    return assert_session(await ok(await api.get(f"{SESSIONS}/{session_id}", user=user)))


async def transaction_count(api, user: str = "u1") -> int:
    return (await ok(await api.get(TRANSACTIONS, user=user, params={"limit": "100"})))["total"]


async def mock_provider(api):
    """The app's own mock provider plugin (its "remote side" is what the tests pay through)."""
    found = api.container.adapters.payment_providers()
    providers = await found if inspect.isawaitable(found) else found
    return providers["mock"]


async def deliver(api, headers: dict, body: bytes, provider: str = "mock"):
    """POST a raw provider notification to the webhook, as the provider would (no JWT)."""
    return await api.client.post(f"/api/v1/payments/webhooks/{provider}", data=body, headers=headers)


async def pay(api, payment_session: dict, succeeded: bool = True):
    """The payer pays (or declines) `payment_session` at the mock; its signed notification arrives."""
    mock = await mock_provider(api)
    headers, body = mock.settle(payment_session["order_id"], succeeded)
    response = await deliver(api, headers, body)
    assert response.status == 200, await response.text()
    assert await response.json() == {"received": True}
    return response


async def consume(api, user_id: str, count: int, reference: str):
    return await api.post(CONSUME, {"user_id": user_id, "count": count, "reference": reference},
                          user="backend", role="service")
