"""Helpers of the live tests, where the service runs on a real port and the mock provider calls it
back over HTTP as a real provider would: free ports, bounded waits on a condition, the mock's
checkout page as a payer's browser sees it, and a reader of server-sent events.

Used by tests/e2e (in-memory adapters) and tests/integration (PostgreSQL, real processes).
"""
from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from html.parser import HTMLParser
from typing import Any, TypeVar

import aiohttp
import attrs

T = TypeVar("T")

# Delays of the mock's re-delivery in live tests: the first attempt at once, then quick retries.
FAST_REDELIVERY = (0, 0.05, 0.1, 0.2, 0.5, 1.0)
WAIT_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def eventually(probe: Callable[[], Awaitable[T]], condition: Callable[[T], bool], *,
                     timeout: float = WAIT_SECONDS, what: str = "the condition") -> T:
    """Call `probe` until `condition(result)` holds and return that result; fail after `timeout`
    seconds with the last result seen. (Polling a real condition, not sleeping for luck.)"""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await probe()
        if condition(value):
            return value
        if loop.time() >= deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------------- the checkout page
@attrs.frozen
class Element:
    tag: str
    attrs: dict[str, str]
    text: str


class _ById(HTMLParser):
    """Collects every element that has an `id` (its tag, attributes and text), plus every form."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: dict[str, Element] = {}
        self.forms: list[dict[str, str]] = []
        self.title = ""
        self._open: list[tuple[str, str | None, dict[str, str], list[str]]] = []
        self._in_title = False

    def handle_starttag(self, tag: str, attributes: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attributes}
        if tag == "form":
            self.forms.append(found)
        if tag == "title":
            self._in_title = True
        if tag in ("img", "input", "meta", "br", "link"):  # void elements have no text
            if "id" in found:
                self.elements[found["id"]] = Element(tag, found, "")
            return
        self._open.append((tag, found.get("id"), found, []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        while self._open:
            open_tag, element_id, found, text = self._open.pop()
            if element_id is not None:
                self.elements[element_id] = Element(open_tag, found, "".join(text).strip())
            if self._open:  # an element's text includes its children's
                self._open[-1][3].extend(text)
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._open:
            self._open[-1][3].append(data)


@attrs.frozen
class CheckoutPage:
    """The mock's hosted checkout page as the payer's browser received it."""

    status: int
    content_type: str
    html: str
    elements: dict[str, Element]
    forms: list[dict[str, str]]
    title: str

    @classmethod
    def parse(cls, status: int, content_type: str, text: str) -> CheckoutPage:
        parser = _ById()
        parser.feed(text)
        parser.close()
        return cls(status, content_type, text, parser.elements, parser.forms, parser.title.strip())

    def text_of(self, element_id: str) -> str:
        return self.elements[element_id].text

    @property
    def payable(self) -> bool:
        """It offers the payer both buttons."""
        return "pay" in self.elements and "decline" in self.elements

    @property
    def outcome(self) -> str | None:
        return self.elements["outcome"].text if "outcome" in self.elements else None


async def open_checkout(browser: aiohttp.ClientSession, url: str) -> CheckoutPage:
    """GET the page at `url` as a browser would (no bearer token)."""
    async with browser.get(url) as response:
        return CheckoutPage.parse(response.status, response.content_type, await response.text())


async def submit_checkout(browser: aiohttp.ClientSession, url: str, outcome: str) -> CheckoutPage:
    """Press a button of the page: POST the form (`outcome` = `succeeded` Pay | `failed` Decline)."""
    async with browser.post(url, data={"outcome": outcome}) as response:
        return CheckoutPage.parse(response.status, response.content_type, await response.text())


async def pay_through_page(browser: aiohttp.ClientSession, payment_url: str, outcome: str = "succeeded") -> CheckoutPage:
    """Open the page, check it offers Pay and Decline, and press one as the payer would: POST to
    the form's own action."""
    page = await open_checkout(browser, payment_url)
    assert page.status == 200 and page.payable, page.html
    (form,) = page.forms
    assert form["method"].lower() == "post"
    answer = await submit_checkout(browser, form["action"], outcome)
    assert answer.status == 200, answer.html
    return answer


# ---------------------------------------------------------------------- server-sent events
@attrs.frozen
class ServerSentEvent:
    event: str
    data: str

    def json(self) -> Any:
        return json.loads(self.data)


async def server_sent_events(response: aiohttp.ClientResponse) -> AsyncIterator[ServerSentEvent]:
    """The events of a `text/event-stream` response, as an EventSource would dispatch them (comments
    such as pings are skipped); ends when the server ends the stream."""
    event, data = "message", []
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data))
            event, data = "message", []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)


async def next_event(events: AsyncIterator[ServerSentEvent], timeout: float = WAIT_SECONDS) -> ServerSentEvent:
    """The stream's next event within `timeout` seconds (fails otherwise, or when the stream ended)."""
    try:
        return await asyncio.wait_for(anext(events), timeout)
    except StopAsyncIteration:
        raise AssertionError("the event stream ended instead of sending another event") from None
    except TimeoutError:
        raise AssertionError(f"no event within {timeout} s") from None


async def stream_ends(events: AsyncIterator[ServerSentEvent], timeout: float = WAIT_SECONDS) -> list[ServerSentEvent]:
    """Read until the server ends the stream (within `timeout`); the events sent meanwhile."""
    async def rest() -> list[ServerSentEvent]:
        return [event async for event in events]
    try:
        return await asyncio.wait_for(rest(), timeout)
    except TimeoutError:
        raise AssertionError(f"the event stream did not end within {timeout} s") from None
