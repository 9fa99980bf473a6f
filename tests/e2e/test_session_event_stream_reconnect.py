"""The event stream's ids, `retry:` and reconnects, end to end through a real server.

Every event carries `id: <session id>:<status>` and `retry: 5000`. A reconnect whose
`Last-Event-ID` is the id of the session's final status answers 204 (no body), which is what makes
a browser's EventSource stop; any other `Last-Event-ID` gets the normal stream. The last test has
headless Chromium's own EventSource open the stream of a finished session from a page on another
origin (as the frontend would) and checks that it gives up (`readyState` CLOSED) after one
reconnect.
"""
from __future__ import annotations

import json

import pytest
from aiohttp import web

from e2e_support import SESSIONS, assert_session, buy
from entrypoints.http.keys import METRICS
from entrypoints.http.middlewares import EVENT_STREAM_ROUTE
from entrypoints.http.resources import session_events
from live import (
    devtools_page,
    eventually,
    free_port,
    needs_chromium,
    next_event,
    pay_through_page,
    server_sent_events,
    stream_ends,
)

FEED_WAIT = 5.0


@pytest.fixture(autouse=True)
def only_the_feed_wakes_a_stream(monkeypatch):
    monkeypatch.setattr(session_events, "RECHECK_SECONDS", 120.0)


def events_path(session_id: str) -> str:
    return f"{SESSIONS}/{session_id}/events"


async def paid(live_api, browser, amount: int = 5) -> dict:
    """A session that was paid (final: `completed`), its notification delivered."""
    bought = await buy(live_api, amount)
    await pay_through_page(browser, bought["session"]["payment_url"])
    await live_api.mock.wait_for_deliveries()
    return bought["session"]


async def test_every_event_carries_an_id_that_changes_with_the_status_and_a_retry_of_5_seconds(live_api, browser):
    bought = await buy(live_api, 10)
    sid = bought["session"]["id"]
    response = await live_api.get(events_path(sid))
    events = server_sent_events(response)

    first = await next_event(events)
    await pay_through_page(browser, bought["session"]["payment_url"])
    (last,) = await stream_ends(events, FEED_WAIT)

    assert (first.id, first.retry, first.json()["status"]) == (f"{sid}:open", 5000, "open")
    assert (last.id, last.retry, last.json()["status"]) == (f"{sid}:completed", 5000, "completed")
    await live_api.mock.wait_for_deliveries()


async def test_the_raw_wire_of_an_event_has_id_event_data_and_retry_lines(live_api, browser):
    session = await paid(live_api, browser)

    response = await live_api.get(events_path(session["id"]))
    raw = (await response.read()).decode()

    lines = [line for line in raw.replace("\r\n", "\n").split("\n") if line and not line.startswith(":")]
    assert lines[0] == f"id: {session['id']}:completed"
    assert lines[1] == "event: session"
    assert lines[2].startswith("data: {") and assert_session(json.loads(lines[2][6:]))["status"] == "completed"
    assert lines[3] == "retry: 5000"
    assert len(lines) == 4


async def test_a_reconnect_after_the_final_status_answers_204_without_a_body(live_api, browser):
    session = await paid(live_api, browser)
    path = events_path(session["id"])
    (final,) = await stream_ends(server_sent_events(await live_api.get(path)))

    again = await live_api.get(path, headers={"Last-Event-ID": final.id})

    assert again.status == 204
    assert await again.read() == b""
    assert again.headers["X-Request-ID"]
    # with the token in the query string, as an EventSource reconnects
    query = await live_api.client.get(path, params={"access_token": live_api.token("u1")},
                                      headers={"Last-Event-ID": f"{session['id']}:completed"})
    assert query.status == 204


@pytest.mark.parametrize("last_event_id", ["{sid}:open", "{sid}:cancelled", "ps_someoneelse:completed", "garbage",
                                           "{sid}:completed:x", ""])
async def test_a_last_event_id_that_is_not_the_current_final_status_gets_the_stream(live_api, browser, last_event_id):
    session = await paid(live_api, browser)

    response = await live_api.get(events_path(session["id"]),
                                  headers={"Last-Event-ID": last_event_id.format(sid=session["id"])})

    assert response.status == 200
    assert response.content_type == "text/event-stream"
    assert [(e.id, e.json()["status"]) for e in await stream_ends(server_sent_events(response))] == \
        [(f"{session['id']}:completed", "completed")]


async def test_a_reconnect_to_an_open_session_gets_the_live_stream(live_api, browser):
    bought = await buy(live_api, 5)
    sid = bought["session"]["id"]

    response = await live_api.get(events_path(sid), headers={"Last-Event-ID": f"{sid}:open"})
    events = server_sent_events(response)
    assert (await next_event(events)).id == f"{sid}:open"
    await pay_through_page(browser, bought["session"]["payment_url"], "failed")

    assert [e.id for e in await stream_ends(events, FEED_WAIT)] == [f"{sid}:failed"]
    await live_api.mock.wait_for_deliveries()


async def test_someone_elses_session_is_404_even_with_its_final_event_id(live_api, browser):
    session = await paid(live_api, browser)

    response = await live_api.get(events_path(session["id"]), user="u2",
                                  headers={"Last-Event-ID": f"{session['id']}:completed"})

    assert response.status == 404


# ---------------------------------------------------------------------- a browser's EventSource
# A frontend page (on its own origin) that opens the stream and records what the EventSource does.
FRONTEND_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>frontend</title></head><body><script>
window.seen = {opens: 0, errors: 0, messages: [], states: []};
const source = new EventSource(new URLSearchParams(location.search).get("stream"));
source.onopen = () => { window.seen.opens += 1; };
source.addEventListener("session", (e) => { window.seen.messages.push([e.lastEventId, JSON.parse(e.data).status]); });
source.onerror = () => { window.seen.errors += 1; window.seen.states.push(source.readyState); };
window.source = source;
</script></body></html>"""


@needs_chromium
async def test_chromiums_eventsource_on_a_finished_session_reconnects_once_and_stops(make_live_api, browser,
                                                                                     aiohttp_server, tmp_path):
    async def frontend_page(_: web.Request) -> web.Response:
        return web.Response(text=FRONTEND_PAGE, content_type="text/html")
    frontend = web.Application()
    frontend.router.add_get("/", frontend_page)
    frontend_port = free_port()
    await aiohttp_server(frontend, port=frontend_port)
    origin = f"http://127.0.0.1:{frontend_port}"
    live_api = await make_live_api(PAYMENTS_CORS_ORIGINS=origin)
    session = await paid(live_api, browser)
    stream = f"{live_api.base_url}{events_path(session['id'])}?access_token={live_api.token('u1')}"

    async with devtools_page(tmp_path, f"{origin}/?stream={stream}") as page:
        # the first connection gets the final session and ends; after `retry` (5 s) the browser
        # reconnects with its Last-Event-ID, gets 204 and gives up for good
        seen = await eventually(lambda: page.evaluate("window.seen && window.source.readyState === 2 ? window.seen : null",
                                                      while_navigating=None),
                                lambda value: value is not None, timeout=20, what="the EventSource to close")

    assert seen["messages"] == [[f"{session['id']}:completed", "completed"]]
    assert seen["opens"] == 1
    assert seen["states"] == [0, 2]  # CONNECTING after the stream ended, then CLOSED after the 204
    answered = await eventually(lambda: stream_answers(live_api), lambda counts: sum(counts.values()) >= 2,
                                what="the server to count both answers")
    assert answered == {"200": 1.0, "204": 1.0}  # one stream, one reconnect, nothing after


async def stream_answers(live_api) -> dict[str, float]:
    """How many times the server answered the event stream, by status (its request metrics)."""
    registry = live_api.app[METRICS].registry
    counts = {status: registry.get_sample_value("payments_http_requests_total", {
        "method": "GET", "route": EVENT_STREAM_ROUTE, "status": status}) for status in ("200", "204")}
    return {status: count for status, count in counts.items() if count}
