"""GET /api/v1/payments/sessions/{id}/events: the session as server-sent events, end to end.

The stream sends event `session` at once, then again on each status change, and ends once the
session is final. The changes here come from the payer's checkout page and the mock's own
notification over HTTP. The stream's periodic re-read is pushed far out (`RECHECK_SECONDS`), so
an event that arrives in time was woken by the session feed, not by the re-read.
"""
from __future__ import annotations

import asyncio

import pytest

from e2e_support import CANCEL, SESSIONS, assert_session, buy, error_of, ok, session
from entrypoints.http.resources import session_events
from live import next_event, pay_through_page, server_sent_events, stream_ends

FEED_WAIT = 5.0  # well under the re-read interval set below


@pytest.fixture(autouse=True)
def only_the_feed_wakes_a_stream(monkeypatch):
    monkeypatch.setattr(session_events, "RECHECK_SECONDS", 120.0)


def events_path(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/events"


async def test_the_stream_sends_the_open_session_at_once_then_completed_after_the_payment_and_ends(live_api, browser):
    bought = await buy(live_api, 10)
    sid = bought["session"]["id"]

    response = await live_api.get(events_path(sid))
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    assert response.headers["Cache-Control"] in ("no-cache", "no-store")
    assert response.headers["X-Request-ID"]
    events = server_sent_events(response)
    first = await next_event(events)
    assert first.event == "session"
    assert assert_session(first.json()) == bought["session"]  # the same object as GET sessions/{id}

    await pay_through_page(browser, bought["session"]["payment_url"])
    changed = await next_event(events, FEED_WAIT)

    assert changed.event == "session"
    completed = assert_session(changed.json())
    assert (completed["id"], completed["status"]) == (sid, "completed") and completed["completed_at"]
    assert completed == await session(live_api, sid)
    assert await stream_ends(events) == []
    await live_api.mock.wait_for_deliveries()


async def test_the_token_may_come_as_the_access_token_query_parameter(live_api, browser):
    bought = await buy(live_api, 5)
    sid = bought["session"]["id"]

    response = await live_api.client.get(events_path(sid), params={"access_token": live_api.token("u1")})

    assert response.status == 200
    events = server_sent_events(response)
    assert (await next_event(events)).json()["status"] == "open"
    await pay_through_page(browser, bought["session"]["payment_url"], "failed")
    assert [e.json()["status"] for e in await stream_ends(events, FEED_WAIT)] == ["failed"]
    await live_api.mock.wait_for_deliveries()


async def test_cancelling_the_transaction_ends_the_stream_with_the_cancelled_session(live_api):
    bought = await buy(live_api, 5)
    response = await live_api.get(events_path(bought["session"]["id"]))
    events = server_sent_events(response)
    await next_event(events)

    await ok(await live_api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}))

    assert [e.json()["status"] for e in await stream_ends(events, FEED_WAIT)] == ["cancelled"]


async def test_a_new_session_ends_the_stream_of_the_one_it_replaces(live_api):
    bought = await buy(live_api, 5)
    response = await live_api.get(events_path(bought["session"]["id"]))
    events = server_sent_events(response)
    await next_event(events)

    await ok(await live_api.post(SESSIONS, {"transaction_id": bought["transaction"]["id"]}), 201)

    assert [e.json()["status"] for e in await stream_ends(events, FEED_WAIT)] == ["cancelled"]


async def test_a_session_that_is_already_final_is_sent_once_and_the_stream_ends(live_api, browser):
    bought = await buy(live_api, 5)
    await pay_through_page(browser, bought["session"]["payment_url"])
    await live_api.mock.wait_for_deliveries()

    response = await live_api.get(events_path(bought["session"]["id"]))

    assert response.status == 200
    assert [(e.event, e.json()["status"]) for e in await stream_ends(server_sent_events(response))] == \
        [("session", "completed")]


async def test_several_streams_of_one_session_all_receive_the_change(live_api, browser):
    bought = await buy(live_api, 5)
    responses = [await live_api.get(events_path(bought["session"]["id"])) for _ in range(3)]
    streams = [server_sent_events(r) for r in responses]
    for events in streams:
        await next_event(events)

    await pay_through_page(browser, bought["session"]["payment_url"])

    ends = await asyncio.gather(*(stream_ends(events, FEED_WAIT) for events in streams))
    assert [[e.json()["status"] for e in rest] for rest in ends] == [["completed"]] * 3
    await live_api.mock.wait_for_deliveries()


@pytest.mark.parametrize("auth", ["none", "bad_header", "bad_query", "expired"])
async def test_the_stream_without_a_valid_token_is_unauthorized(live_api, auth):
    bought = await buy(live_api, 5)
    path = events_path(bought["session"]["id"])

    if auth == "none":
        response = await live_api.client.get(path)
    elif auth == "bad_header":
        response = await live_api.client.get(path, headers={"Authorization": "Bearer not.a.token"})
    elif auth == "bad_query":
        response = await live_api.client.get(path, params={"access_token": "not.a.token"})
    else:
        response = await live_api.client.get(path, params={"access_token": live_api.token("u1", ttl=-60)})

    await error_of(response, 401, "unauthorized")


async def test_someone_elses_session_stream_is_not_found_exactly_like_a_missing_one(live_api):
    theirs = (await buy(live_api, 5, user="u1"))["session"]["id"]
    missing = "ps_" + "0" * (len(theirs) - 3)

    as_other = await error_of(await live_api.get(events_path(theirs), user="u2"), 404, "not_found")
    as_missing = await error_of(await live_api.get(events_path(missing), user="u2"), 404, "not_found")

    assert as_other == {**as_missing, "message": as_missing["message"].replace(missing, theirs)}
    assert (await session(live_api, theirs, user="u1"))["status"] == "open"


async def test_the_stream_ends_when_its_token_expires_even_while_the_session_is_open(live_api):
    bought = await buy(live_api, 5)
    sid = bought["session"]["id"]
    token = live_api.token("u1", ttl=2)

    response = await live_api.client.get(events_path(sid), headers={"Authorization": f"Bearer {token}"})
    events = server_sent_events(response)
    assert (await next_event(events)).json()["status"] == "open"

    assert await stream_ends(events, timeout=FEED_WAIT) == []  # at the token's exp, not the session's
    assert (await session(live_api, sid))["status"] == "open"


async def test_a_re_read_that_fails_once_leaves_the_stream_open_and_the_next_change_arrives(live_api):
    bought = await buy(live_api, 5)
    sid = bought["session"]["id"]
    use_cases = live_api.use_cases
    real_get_session = use_cases.get_session
    calls = 0

    async def flaky_get_session(query):
        nonlocal calls
        calls += 1
        if calls == 2:  # the first re-read after the stream began: the database connection dropped
            raise ConnectionError("connection was closed in the middle of operation")
        return await real_get_session(query)

    use_cases.get_session = flaky_get_session
    response = await live_api.get(events_path(sid))
    events = server_sent_events(response)
    assert (await next_event(events)).json()["status"] == "open"

    await ok(await live_api.post(CANCEL, {"transaction_id": bought["transaction"]["id"]}), 200)  # fails the re-read

    changed = await next_event(events, FEED_WAIT)  # read again soon, not at the next (far) re-read
    assert calls >= 3
    assert (changed.json()["id"], changed.json()["status"]) == (sid, "cancelled")
