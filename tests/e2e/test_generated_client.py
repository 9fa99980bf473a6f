"""A Python client generated from the served OpenAPI document (openapi-python-client, offline, no
formatter) buys receives end to end against a real server: the purchase through the client, the
payment at the mock's checkout page as the payer's browser makes it, and the balance read
through the client. The client's functions are named after the document's operationIds."""
from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import pytest

from e2e_support import JWT_SECRET
from entrypoints.cli import mint_token
from live import eventually, pay_through_page

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "payments_client"
CONFIG = f"project_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\npost_hooks: []\n"


@pytest.fixture
async def generated(live_api, browser, tmp_path, monkeypatch):
    """The client package generated from the live server's document, imported."""
    async with browser.get(f"{live_api.base_url}/api/docs/swagger.json") as response:
        assert response.status == 200
        (tmp_path / "openapi.json").write_bytes(await response.read())
    (tmp_path / "config.yaml").write_text(CONFIG)
    generator = await asyncio.create_subprocess_exec(
        str(GENERATOR), "generate", "--path", str(tmp_path / "openapi.json"), "--output-path",
        str(tmp_path / PACKAGE), "--meta", "none", "--config", str(tmp_path / "config.yaml"),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(generator.communicate(), 60)
    assert generator.returncode == 0, output.decode()
    assert b"Warning" not in output and b"Unable" not in output, output.decode()  # every operation and schema made it
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


async def test_a_generated_client_buys_receives_end_to_end(live_api, browser, generated):
    """(One test, so that the client is generated once.)"""
    functions = {module.stem for module in (Path(generated.__file__).parent / "api").glob("*/*.py")}
    assert {"purchase_receives", "change_plan", "get_membership", "get_pricing", "list_transactions",
            "get_transaction", "open_session", "get_session", "cancel_transaction", "list_methods",
            "consume_receives"} <= functions  # named after the operationIds
    from payments_client import AuthenticatedClient
    from payments_client.api.payments import get_membership, purchase_receives
    from payments_client.models import Error, PaymentMethodId, PaymentResponse, PurchaseReceivesRequest

    token = mint_token(JWT_SECRET, "generated-client-user", None, 600)
    async with AuthenticatedClient(base_url=live_api.base_url, token=token) as client:
        before = await get_membership.asyncio(client=client)
        bought = await purchase_receives.asyncio_detailed(
            client=client, idempotency_key="generated-client-1",
            body=PurchaseReceivesRequest(amount=10, payment_method=PaymentMethodId.WECHAT_PAY))
        assert bought.status_code == 201, bought.content
        purchase = bought.parsed
        assert isinstance(purchase, PaymentResponse)
        assert (purchase.transaction.total, purchase.transaction.currency, purchase.transaction.status.value) == (
            1700, "CNY", "pending")
        assert purchase.session.status.value == "open" and purchase.session.amount == 1700

        await pay_through_page(browser, purchase.session.payment_url)

        async def balance():
            return await get_membership.asyncio(client=client)
        after = await eventually(balance, lambda m: m.receives.purchased_remaining == 10,
                                 what="the purchased receives to be credited")
        assert after.receives.balance == before.receives.balance + 10

        replayed = await purchase_receives.asyncio_detailed(
            client=client, idempotency_key="generated-client-1",
            body=PurchaseReceivesRequest(amount=10, payment_method=PaymentMethodId.WECHAT_PAY))
        assert replayed.headers["Idempotent-Replayed"] == "true"
        assert replayed.parsed.transaction.id == purchase.transaction.id

        refused = await purchase_receives.asyncio_detailed(
            client=client, body=PurchaseReceivesRequest(amount=101, payment_method=PaymentMethodId.WECHAT_PAY))
        assert refused.status_code == 422 and isinstance(refused.parsed, Error)
        assert refused.parsed.error.code == "validation_error"
        assert "amount" in refused.parsed.error.details.additional_properties

