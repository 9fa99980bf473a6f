"""The risk rules in a real `payments serve` process over SQLite and PostgreSQL (migrated to
revision 0012 by the server itself): a payment over the daily amount and a blocked user's are
refused with 403 `risk_declined` (nothing written), the flag is listed for the admin and resolved,
the block and its end are audited."""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from live import eventually, serve_process

pytestmark = pytest.mark.asyncio

RECEIVES = "/api/v1/payments/receives"
FLAGS = "/api/v1/admin/risk/flags"


async def call(service, method: str, path: str, body=None, *, user: str, role: str | None = None,
               headers: dict | None = None) -> tuple[int, dict]:
    async with service.http.request(method, service.url(path), json=body, headers={
            "Authorization": f"Bearer {service.token(user, role)}", **(headers or {})}) as response:
        return response.status, await response.json()


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_declines_flags_and_blocks_over_sql(database, tmp_path: Path, request: pytest.FixtureRequest):
    environ = {"PAYMENTS_RISK_DAILY_LIMIT": "2000"}
    if database == "postgres":
        environ["PAYMENTS_DATABASE_URL"] = request.getfixturevalue("postgres_database_factory")("risk")
    async with aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, **environ) as service:
            status, body = await call(service, "POST", RECEIVES, {"amount": 20, "payment_method": "wechat_pay"},
                                      user="whale")
            assert (status, body["error"]["code"]) == (403, "risk_declined")
            status, body = await call(service, "GET", "/api/v1/payments/transactions", user="whale")
            assert (status, body["total"]) == (200, 0)  # nothing was opened
            status, bought = await call(service, "POST", RECEIVES, {"amount": 10, "payment_method": "wechat_pay"},
                                        user="whale")
            assert status == 201, bought

            status, page = await call(service, "GET", f"{FLAGS}?user_id=whale", user="boss", role="admin")
            assert status == 200 and [f["rule"] for f in page["items"]] == ["daily_amount"]
            flag = page["items"][0]
            assert flag["details"]["amount"] > 2000 and flag["details"]["limit"] == 2000
            status, resolved = await call(service, "POST", f"{FLAGS}/{flag['id']}/resolve", {"note": "fine"},
                                          user="boss", role="admin")
            assert status == 200 and resolved["resolved_by"] == "boss"

            status, _ = await call(service, "POST", "/api/v1/admin/users/whale/block", {"reason": "test"},
                                   user="boss", role="admin")
            assert status == 200
            status, body = await call(service, "POST", "/api/v1/payments/sessions",
                                      {"transaction_id": bought["transaction"]["id"]}, user="whale")
            assert (status, body["error"]["code"]) == (403, "risk_declined")
            status, body = await call(service, "POST", "/api/v1/admin/users/whale/unblock", None,
                                      user="boss", role="admin")
            assert (status, body) == (200, {"user_id": "whale", "blocked": False})
            status, _ = await call(service, "POST", "/api/v1/payments/sessions",
                                   {"transaction_id": bought["transaction"]["id"]}, user="whale")
            assert status == 201

            # A plan upgrade is declined inside its unit of work; its flag is written once that rolled back.
            status, body = await call(service, "POST", "/api/v1/payments/plan",
                                      {"new_plan": "vip", "payment_method": "alipay"}, user="whale")
            assert (status, body["error"]["code"]) == (403, "risk_declined")

            async def open_flags():
                return (await call(service, "GET", f"{FLAGS}?user_id=whale&resolved=false", user="boss",
                                   role="admin"))[1]["items"]
            [flag] = await eventually(open_flags, lambda items: len(items) == 1, what="the upgrade's flag")
            assert flag["rule"] == "daily_amount" and flag["details"]["amount"] == 5900
            status, body = await call(service, "GET", "/api/v1/payments/membership", user="whale")
            assert body["plan"] == "basic" and body.get("scheduled_change") is None

            status, audit = await call(service, "GET", "/api/v1/admin/audit-log?object_id=whale",
                                       user="boss", role="admin")
            assert [e["action"] for e in audit["items"]] == ["user.unblocked", "user.blocked"]
