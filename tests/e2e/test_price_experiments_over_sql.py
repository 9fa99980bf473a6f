"""Price experiments in a real `payments serve` process over SQLite and PostgreSQL (migrated to
revision 0014 by the server itself): a running experiment prices a purchase by the user's variant,
a second start is 409, the payment made on the mock's checkout page is counted in the results from
SQL with exact figures, and after the stop the catalog is back while the transaction keeps its
price and variant."""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from domain.experiment import PriceVariant, assign
from live import eventually, pay_through_page, serve_process

pytestmark = pytest.mark.asyncio

EXPERIMENTS = "/api/v1/admin/experiments"
EXPERIMENT = "sql-2027q1"
DEFINITION = {"id": EXPERIMENT, "variants": [
    {"id": "control", "weight": 1}, {"id": "cheaper", "weight": 3, "receives": {"unit_price": 150}}]}
VARIANTS = (PriceVariant("control", 1), PriceVariant("cheaper", 3))


async def call(service, method: str, path: str, body=None, *, user: str, role: str | None = None) -> tuple[int, dict]:
    async with service.http.request(method, service.url(path), json=body, headers={
            "Authorization": f"Bearer {service.token(user, role)}"}) as response:
        return response.status, await response.json()


def user_in(variant: str, skip: int = 0) -> str:
    found = (f"sql-user-{n}" for n in range(10_000) if assign(EXPERIMENT, f"sql-user-{n}", VARIANTS).id == variant)
    for _ in range(skip):
        next(found)
    return next(found)


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_an_experiment_prices_counts_and_stops_over_sql(database, tmp_path: Path, request: pytest.FixtureRequest):
    environ = {}
    if database == "postgres":
        environ["PAYMENTS_DATABASE_URL"] = request.getfixturevalue("postgres_database_factory")("experiments")
    async with aiohttp.ClientSession() as http, serve_process(http, tmp_path, **environ) as service:
        async def admin(method: str, path: str, body=None) -> tuple[int, dict]:
            return await call(service, method, path, body, user="ops", role="admin")

        assert (await admin("POST", EXPERIMENTS, DEFINITION))[0] == 201
        assert (await admin("POST", f"{EXPERIMENTS}/{EXPERIMENT}/start"))[1]["status"] == "running"
        assert (await admin("POST", EXPERIMENTS, {**DEFINITION, "id": "second"}))[0] == 201
        status, body = await admin("POST", f"{EXPERIMENTS}/second/start")
        assert (status, body["error"]["code"]) == (409, "invalid_state")

        cheap, control = user_in("cheaper"), user_in("control")
        status, pricing = await call(service, "GET", "/api/v1/payments/pricing", user=cheap)
        assert (status, pricing["receives"]["unit_price"]) == (200, 150)
        await call(service, "GET", "/api/v1/payments/pricing", user=control)
        status, bought = await call(service, "POST", "/api/v1/payments/receives",
                                    {"amount": 10, "payment_method": "wechat_pay"}, user=cheap)
        assert status == 201
        assert (bought["transaction"]["total"], bought["transaction"]["price_variant"]) == (
            1275, f"{EXPERIMENT}/cheaper")  # 1500 less 15 %
        await pay_through_page(http, bought["session"]["payment_url"])

        async def results():
            return (await admin("GET", f"{EXPERIMENTS}/{EXPERIMENT}/results"))[1]
        found = await eventually(results, lambda r: r["variants"][1]["paying"] == 1, what="the payment counted")
        assert found["variants"] == [
            {"id": "control", "exposed": 1, "paying": 0, "conversion_bps": 0, "gross": 0, "revenue_per_exposed": 0,
             "p_value": None},
            {"id": "cheaper", "exposed": 1, "paying": 1, "conversion_bps": 10000, "gross": 1275,
             "revenue_per_exposed": 1275, "p_value": found["variants"][1]["p_value"]}]
        assert 0 < found["variants"][1]["p_value"] <= 1

        assert (await admin("POST", f"{EXPERIMENTS}/{EXPERIMENT}/stop"))[1]["status"] == "stopped"
        status, pricing = await call(service, "GET", "/api/v1/payments/pricing", user=cheap)
        assert pricing["receives"]["unit_price"] == 200
        status, detail = await call(service, "GET", f"/api/v1/payments/transactions/{bought['transaction']['id']}",
                                    user=cheap)
        kept = detail["transaction"]
        assert (kept["status"], kept["total"], kept["price_variant"]) == ("succeeded", 1275, f"{EXPERIMENT}/cheaper")
        assert (await results())["status"] == "stopped"
        assert (await admin("POST", f"{EXPERIMENTS}/second/start"))[1]["status"] == "running"
