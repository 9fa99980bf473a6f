"""The session event stream across server processes on PostgreSQL (LISTEN/NOTIFY).

Two applications built by the real composition root over the same migrated database share
nothing else (two containers, two connection pools, two listening connections), as two server
processes would. A stream held on app A must receive a change that app B made: here the payer
pays on B's checkout page, the mock's notification reaches B's webhook, B commits and notifies,
and A's stream sends `completed` and ends. The stream's periodic re-read is pushed far out, so
only the notification can wake A in time.

The last test does the same with two real `payments serve` processes.
"""
from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from entrypoints.http.resources import session_events
from live import eventually, next_event, pay_through_page, serve_process, server_sent_events, stream_ends

pytestmark = pytest.mark.postgres

RECEIVES = "/api/v1/payments/receives"
CANCEL = "/api/v1/payments/cancel"
MEMBERSHIP = "/api/v1/payments/membership"
FEED_WAIT = 5.0


@pytest.fixture
def only_the_feed_wakes_a_stream(monkeypatch):
    monkeypatch.setattr(session_events, "RECHECK_SECONDS", 120.0)


async def test_a_payment_applied_by_app_b_reaches_the_stream_held_on_app_a(
        make_sql_app, clean_postgres_url, browser, only_the_feed_wakes_a_stream):
    a = await make_sql_app(clean_postgres_url)
    b = await make_sql_app(clean_postgres_url)
    bought = await b.service.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, expect=201)
    sid = bought["session"]["id"]
    assert bought["session"]["payment_url"].startswith(b.service.base_url)  # so B's webhook gets the notification

    response = await a.service.open_events(sid)
    try:
        events = server_sent_events(response)
        first = await next_event(events)
        assert (first.event, first.json()["status"]) == ("session", "open")
        assert first.json() == bought["session"]

        await pay_through_page(browser, bought["session"]["payment_url"])
        changed = await next_event(events, FEED_WAIT)

        assert changed.event == "session"
        assert (changed.json()["id"], changed.json()["status"]) == (sid, "completed")
        assert await stream_ends(events) == []
    finally:
        response.close()
    await b.mock.wait_for_deliveries()
    for app in (a, b):  # one database: both read the credit
        assert (await app.service.get(MEMBERSHIP))["receives"]["purchased_remaining"] == 10


async def test_a_cancel_through_app_b_ends_the_stream_held_on_app_a(
        make_sql_app, clean_postgres_url, only_the_feed_wakes_a_stream):
    a = await make_sql_app(clean_postgres_url)
    b = await make_sql_app(clean_postgres_url)
    bought = await a.service.post(RECEIVES, {"amount": 5, "payment_method": "alipay"}, expect=201)
    response = await a.service.open_events(bought["session"]["id"])
    try:
        events = server_sent_events(response)
        await next_event(events)

        await b.service.post(CANCEL, {"transaction_id": bought["transaction"]["id"]})

        assert [e.json()["status"] for e in await stream_ends(events, FEED_WAIT)] == ["cancelled"]
    finally:
        response.close()


async def test_streams_on_both_apps_receive_a_change_made_by_either(
        make_sql_app, clean_postgres_url, browser, only_the_feed_wakes_a_stream):
    a = await make_sql_app(clean_postgres_url)
    b = await make_sql_app(clean_postgres_url)
    bought = await a.service.post(RECEIVES, {"amount": 5, "payment_method": "mock"}, expect=201)
    responses = [await app.service.open_events(bought["session"]["id"]) for app in (a, b, a, b)]
    try:
        streams = [server_sent_events(r) for r in responses]
        for events in streams:
            await next_event(events)

        await pay_through_page(browser, bought["session"]["payment_url"])  # A's page; A's webhook

        ends = await asyncio.gather(*(stream_ends(events, FEED_WAIT) for events in streams))
        assert [[e.json()["status"] for e in rest] for rest in ends] == [["completed"]] * 4
    finally:
        for response in responses:
            response.close()
    await a.mock.wait_for_deliveries()


# ---------------------------------------------------------------------- real processes
async def test_two_serve_processes_on_one_database_a_payment_in_one_reaches_a_stream_on_the_other(
        clean_postgres_url, tmp_path, browser):
    async with aiohttp.ClientSession() as http, \
            serve_process(http, tmp_path, "a", PAYMENTS_DATABASE_URL=clean_postgres_url) as a, \
            serve_process(http, tmp_path, "b", PAYMENTS_DATABASE_URL=clean_postgres_url) as b:
        bought = await b.post(RECEIVES, {"amount": 10, "payment_method": "wechat_pay"}, expect=201)
        response = await a.open_events(bought["session"]["id"])
        try:
            events = server_sent_events(response)
            assert (await next_event(events)).json()["status"] == "open"
            # The stream re-reads the session 5 s after its first event at the earliest; an update
            # well before that came through LISTEN/NOTIFY.
            opened = time.monotonic()

            await pay_through_page(browser, bought["session"]["payment_url"])
            changed = await next_event(events, FEED_WAIT + 5)
            waited = time.monotonic() - opened

            assert changed.json()["status"] == "completed"
            assert waited < 4.0, f"the change took {waited:.1f} s: the feed did not wake the stream"
            assert await stream_ends(events) == []
        finally:
            response.close()
        credited = await eventually(lambda: a.get(MEMBERSHIP), lambda m: m["receives"]["purchased_remaining"] == 10,
                                    what="the credit, read through the other process")
        assert credited["receives"]["balance"] == 13
