"""Issue 11, item 8: a transaction's payment sessions are capped (each one is stored, and shown by
`GET /transactions/{id}` with its QR code), and a session's QR code is drawn once, not on every read."""
from __future__ import annotations

from domain.transaction import MAX_SESSIONS
from e2e_support import SESSIONS, buy, error_of, ok, transaction
from entrypoints.http import render


async def test_a_transaction_gets_at_most_twenty_sessions_then_409_invalid_state(api):
    bought = await buy(api, 10)
    txn = bought["transaction"]["id"]
    for _ in range(MAX_SESSIONS - 1):
        await ok(await api.post(SESSIONS, {"transaction_id": txn}), 201)

    refused = await error_of(await api.post(SESSIONS, {"transaction_id": txn}), 409, "invalid_state")

    assert f"at most {MAX_SESSIONS} payment sessions" in refused["message"]
    detail = await transaction(api, txn)
    assert len(detail["sessions"]) == MAX_SESSIONS == 20
    assert [s["status"] for s in detail["sessions"]].count("open") == 1  # the last one can still be paid


async def test_reading_a_transaction_again_draws_none_of_its_qr_codes_again(api, monkeypatch):
    bought = await buy(api, 10)
    txn = bought["transaction"]["id"]
    for _ in range(4):
        await ok(await api.post(SESSIONS, {"transaction_id": txn}), 201)
    drawn: list[str] = []
    encode = render.zxingcpp.create_barcode
    monkeypatch.setattr(render.zxingcpp, "create_barcode", lambda payload, *a, **k: drawn.append(payload) or
                        encode(payload, *a, **k))

    first = await transaction(api, txn)
    again = await transaction(api, txn)

    assert first == again and len(first["sessions"]) == 5
    assert len(drawn) == len(set(drawn)) <= 5  # each session's code at most once (none if drawn when it opened)
