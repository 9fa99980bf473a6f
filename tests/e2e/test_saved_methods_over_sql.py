"""Saved methods and one-click purchases through a real `payments serve` with two workers, over
SQLite and PostgreSQL, the mock's remote side (orders and saved tokens) in its SQLite file shared by
the workers (docs/saved-methods.md): a purchase with `save_method` paid on the checkout page saves
the method (stored after the payment, by whichever worker applied it); a one-click purchase is
charged and credited once; a declining card fails; a card that needs the payer gets a session;
the default moves and a deleted method is gone and detached."""
from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from live import eventually, pay_through_page, serve_process

RECEIVES = "/api/v1/payments/receives"
SAVED = "/api/v1/payments/saved-methods"


async def call(service, method: str, path: str, body=None, *, user: str = "u1") -> tuple[int, object]:
    async with service.http.request(method, service.url(path), json=body,
                                    headers={"Authorization": f"Bearer {service.token(user)}"}) as response:
        return response.status, (await response.json() if response.status != 204 else None)


async def save(service, http, card: str) -> dict:
    before = {m["id"] for m in (await service.get(SAVED))["items"]}
    bought = await service.post(RECEIVES, {"amount": 5, "payment_method": "credit_card", "save_method": True},
                                expect=201)
    await pay_through_page(http, bought["session"]["payment_url"], card=card)
    items = await eventually(lambda: service.get(SAVED), lambda page: {m["id"] for m in page["items"]} - before,
                             what="the saved method")
    return next(m for m in items["items"] if m["id"] not in before)


async def purchased(service) -> int:
    return (await service.get("/api/v1/payments/membership"))["receives"]["purchased_remaining"]


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def test_saved_methods_and_one_click_purchases_over_sql(database, tmp_path: Path, request):
    environ = {}
    if database == "postgres":
        environ["PAYMENTS_DATABASE_URL"] = request.getfixturevalue("postgres_database_factory")("saved_methods")
    async with aiohttp.ClientSession() as http:
        async with serve_process(http, tmp_path, workers=2, **environ) as service:
            ok = await save(service, http, "ok")
            assert (ok["label"], ok["provider"], ok["is_default"]) == ("Mock card •••• 4242", "mock", True)
            declines = await save(service, http, "declines")
            needs_payer = await save(service, http, "requires_action")
            assert not declines["is_default"] and not needs_payer["is_default"]
            await eventually(lambda: purchased(service), lambda n: n == 15, what="the three purchases credited")

            one_click = await service.post(RECEIVES, {"amount": 10, "saved_method_id": ok["id"]}, expect=201)
            assert (one_click["session"], one_click["transaction"]["status"]) == (None, "succeeded")
            assert await purchased(service) == 25

            declined = await service.post(RECEIVES, {"amount": 1, "saved_method_id": declines["id"]}, expect=201)
            assert (declined["transaction"]["status"], declined["transaction"]["failure_reason"]) == \
                ("failed", "card_declined")
            opened = await service.post(RECEIVES, {"amount": 1, "saved_method_id": needs_payer["id"]}, expect=201)
            assert (opened["transaction"]["status"], opened["session"]["status"]) == ("pending", "open")

            status, chosen = await call(service, "POST", f"{SAVED}/{declines['id']}/default")
            assert (status, chosen["is_default"]) == (200, True)
            status, _ = await call(service, "DELETE", f"{SAVED}/{declines['id']}")
            assert status == 204
            status, body = await call(service, "POST", RECEIVES, {"amount": 1, "saved_method_id": declines["id"]})
            assert (status, body["error"]["code"]) == (404, "not_found")
            left = (await service.get(SAVED))["items"]
            assert [m["id"] for m in left] == [needs_payer["id"], ok["id"]]
            assert [m["is_default"] for m in left] == [True, False]  # the newest remaining one took it
            status, body = await call(service, "GET", SAVED, user="u2")
            assert (status, body) == (200, {"items": []})
