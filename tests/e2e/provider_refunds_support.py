"""Helpers of the real providers' refund tests (tests/e2e/test_*_refunds.py): a user asks for a
refund through `POST /api/v1/payments/refunds`, an admin approves or retries it through the admin
endpoints, and the refund and its transaction are read back, all over HTTP against a `payments
serve` process (a `live.Service`)."""
from __future__ import annotations

from typing import Any

from live import Service, eventually

REFUNDS = "/api/v1/payments/refunds"
ADMIN_REFUNDS = "/api/v1/admin/refunds"
TRANSACTIONS = "/api/v1/payments/transactions"
MEMBERSHIP = "/api/v1/payments/membership"
ADMIN = "refund-admin"


def share_of(total: int, receives: int, bought: int) -> int:
    """round_half_up(total × receives ÷ bought) in integer arithmetic (docs/refunds.md)."""
    return (2 * total * receives + bought) // (2 * bought)


async def as_admin(service: Service, path: str, body: Any = None, *, expect: int = 200) -> dict:
    headers = {"Authorization": f"Bearer {service.token(ADMIN, 'admin')}"}
    async with service.http.post(service.url(path), json=body, headers=headers) as response:
        answer = await response.json()
        assert response.status == expect, (response.status, answer)
        return answer


async def request_refund(service: Service, transaction_id: str, receives: int, *, user: str = "u1") -> dict:
    """The user asks for `receives` back; the refund as created (`requested`)."""
    refund = await service.post(REFUNDS, {"transaction_id": transaction_id, "reason": "bought too many",
                                          "receives": receives}, user=user, expect=201)
    assert (refund["kind"], refund["status"], refund["receives"]) == ("requested", "requested", receives)
    return refund


async def approve(service: Service, refund_id: str) -> dict:
    """An admin approves: the answer is the refund as committed before the provider is called."""
    approved = await as_admin(service, f"{ADMIN_REFUNDS}/{refund_id}/approve", {"note": "ok"})
    assert (approved["status"], approved["reviewed_by"]) == ("processing", ADMIN), approved
    return approved


async def retry(service: Service, refund_id: str) -> dict:
    retried = await as_admin(service, f"{ADMIN_REFUNDS}/{refund_id}/retry")
    assert retried["status"] == "processing", retried
    return retried


async def refund_of(service: Service, refund_id: str, *, user: str = "u1") -> dict:
    return await service.get(f"{REFUNDS}/{refund_id}", user=user)


async def refund_reads(service: Service, refund_id: str, status: str, *, user: str = "u1") -> dict:
    """The refund once it reads `status` (a bounded wait: the provider's answer is recorded after
    the approval's own commit)."""
    return await eventually(lambda: refund_of(service, refund_id, user=user), lambda r: r["status"] == status,
                            what=f"refund {refund_id} to read {status}")


async def transaction_of(service: Service, transaction_id: str, *, user: str = "u1") -> dict:
    return (await service.get(f"{TRANSACTIONS}/{transaction_id}", user=user))["transaction"]


async def purchased(service: Service, *, user: str = "u1") -> int:
    return (await service.get(MEMBERSHIP, user=user))["receives"]["purchased_remaining"]
