"""Helpers of the live tests, where the service runs on a real port and the mock provider calls it
back over HTTP as a real provider would: free ports, bounded waits on a condition, the mock's
checkout page as a payer's browser sees it, a reader of server-sent events, and headless Chromium
driven over the DevTools protocol.

Used by tests/e2e (in-memory adapters) and tests/integration (PostgreSQL, real processes).
"""
from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from html.parser import HTMLParser
from typing import Any, TypeVar

import aiohttp
import attrs
import pytest

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


async def submit_checkout(browser: aiohttp.ClientSession, url: str, outcome: str,
                          card: str | None = None) -> CheckoutPage:
    """Press a button of the page: POST the form (`outcome` = `succeeded` Pay | `failed` Decline),
    with the page's `card` select set to `card` (`ok`, `declines`, `requires_action`) when given."""
    data = {"outcome": outcome} if card is None else {"outcome": outcome, "card": card}
    async with browser.post(url, data=data) as response:
        return CheckoutPage.parse(response.status, response.content_type, await response.text())


async def pay_through_page(browser: aiohttp.ClientSession, payment_url: str,
                           outcome: str = "succeeded", card: str | None = None) -> CheckoutPage:
    """Open the page, check it offers Pay and Decline, and press one as the payer would: POST to
    the form's own action (choosing `card` in its select first, when given: what a saved method
    then does, docs/saved-methods.md)."""
    page = await open_checkout(browser, payment_url)
    assert page.status == 200 and page.payable, page.html
    (form,) = page.forms
    assert form["method"].lower() == "post"
    answer = await submit_checkout(browser, form["action"], outcome, card)
    assert answer.status == 200, answer.html
    return answer


# ---------------------------------------------------------------------- server-sent events
@attrs.frozen
class ServerSentEvent:
    event: str
    data: str
    id: str | None = None  # the stream's last event id when this one was dispatched (EventSource's lastEventId)
    retry: int | None = None  # the last `retry:` the stream sent, in milliseconds

    def json(self) -> Any:
        return json.loads(self.data)


async def server_sent_events(response: aiohttp.ClientResponse) -> AsyncIterator[ServerSentEvent]:
    """The events of a `text/event-stream` response, as an EventSource would dispatch them (comments
    such as pings are skipped); ends when the server ends the stream."""
    event, data, last_id, retry = "message", [], None, None
    async for raw in response.content:
        line = raw.decode().rstrip("\r\n")
        if not line:
            if data:
                yield ServerSentEvent(event, "\n".join(data), last_id, retry)
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
        elif name == "id" and "\0" not in value:
            last_id = value
        elif name == "retry" and value.isdigit():
            retry = int(value)


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


# ---------------------------------------------------------------------- a service at a URL
class Service:
    """A running service at `base_url` (a test server or a `payments serve` process), called over
    plain HTTP with bearer tokens signed by `jwt_secret`."""

    process: subprocess.Popen | None = None  # set by `serve_process`

    def __init__(self, http: aiohttp.ClientSession, base_url: str, jwt_secret: str) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.jwt_secret = jwt_secret

    def token(self, user: str = "u1", role: str | None = None, ttl: int = 3600) -> str:
        from entrypoints.cli import mint_token

        return mint_token(self.jwt_secret, user, role, ttl)

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    async def call(self, method: str, path: str, json_body: Any = None, *, user: str | None = "u1",
                   expect: int = 200) -> Any:
        headers = {"Authorization": f"Bearer {self.token(user)}"} if user else {}
        async with self.http.request(method, self.url(path), json=json_body, headers=headers) as response:
            body = await response.json()
            assert response.status == expect, (response.status, body)
            return body

    async def get(self, path: str, *, user: str | None = "u1", expect: int = 200) -> Any:
        return await self.call("GET", path, user=user, expect=expect)

    async def post(self, path: str, json_body: Any, *, user: str | None = "u1", expect: int = 200) -> Any:
        return await self.call("POST", path, json_body, user=user, expect=expect)

    async def open_events(self, session_id: str, *, user: str = "u1") -> aiohttp.ClientResponse:
        """Open the session's event stream (the caller closes the response)."""
        response = await self.http.get(self.url(f"/api/v1/payments/sessions/{session_id}/events"),
                                       params={"access_token": self.token(user)})
        assert response.status == 200, await response.text()
        return response


# ---------------------------------------------------------------------- a `payments serve` process
PAYMENTS_BIN = Path(sys.executable).parent / "payments"
PROCESS_JWT_SECRET = "process-test-secret-0123456789abcdef0123"
# Test servers take load no user sends (hundreds of POSTs of one user, or of one address, a second):
# the rate limits and the daily amount are lifted unless a test sets them itself (docs/risk.md).
LIFTED_LIMITS = {"PAYMENTS_RATE_LIMIT_PER_MINUTE": "1000000", "PAYMENTS_WEBHOOK_RATE_LIMIT_PER_MINUTE": "1000000",
                 "PAYMENTS_RISK_DAILY_LIMIT": "1000000000000"}


@asynccontextmanager
async def serve_process(http: aiohttp.ClientSession, workdir: Path, name: str = "server", *,
                        public_url: bool = True, workers: int = 1, **environ: str) -> AsyncIterator[Service]:
    """A `payments serve --port <free port>` process run from `workdir` with these PAYMENTS_*
    variables (default: a SQLite database and mock state in `workdir`; PAYMENTS_PUBLIC_URL set to
    its own address unless `public_url=False`), once `/readyz` answers 200 (bounded wait). With
    `workers` > 1 it is a gunicorn master (`--workers N`) whose children are the workers. The
    yielded service's `process` is the `subprocess.Popen`. It is stopped with SIGTERM and waited
    for at the end; its output is in `workdir/<name>.log`."""
    port = free_port()
    env = {**os.environ, "PAYMENTS_DATABASE_URL": f"sqlite:///{workdir}/payments.db",
           "PAYMENTS_JWT_SECRET": PROCESS_JWT_SECRET, "PAYMENTS_MOCK_WEBHOOK_SECRET": "process-mock-secret",
           "PAYMENTS_MOCK_STATE_PATH": str(workdir / "mock-remote.sqlite3"), **LIFTED_LIMITS, **environ}
    env.pop("PAYMENTS_PUBLIC_URL", None)
    if public_url:
        env["PAYMENTS_PUBLIC_URL"] = f"http://127.0.0.1:{port}"
    log_path = workdir / f"{name}.log"
    with log_path.open("w") as log:
        worker_args = ["--workers", str(workers)] if workers != 1 else []
        process = subprocess.Popen([str(PAYMENTS_BIN), "serve", "--port", str(port), *worker_args], env=env,
                                   cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        async def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{log_path.read_text()}")
            try:
                async with http.get(f"{base_url}/readyz") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False
        await eventually(ready, bool, timeout=30, what=f"{name} to be ready")
        service = Service(http, base_url, env["PAYMENTS_JWT_SECRET"])
        service.process = process
        yield service
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# ---------------------------------------------------------------------- headless Chromium
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
                  "--window-size=480,760")
# Outside CI a machine without Chromium skips the browser tests; CI (`.ci/run` installs it) never does.
needs_chromium = pytest.mark.skipif(CHROMIUM is None and os.environ.get("CI", "").lower() != "true",
                                    reason="Chromium is not installed (`apt-get install chromium`)")


async def chromium(tmp_path: Path, *args: str, timeout: float = 60) -> bytes:
    """Run Chromium headless once (a profile of its own); its stdout."""
    assert CHROMIUM is not None, "CI=true: Chromium must be installed (.ci/run installs Debian's chromium)"
    profile = tmp_path / f"profile-{os.urandom(4).hex()}"
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    finally:
        if process.returncode is None:
            os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode == 0, stderr.decode(errors="replace")[-2000:]
    return stdout


class DevToolsPage:
    """One page of a Chromium driven over the DevTools protocol (a WebSocket)."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse) -> None:
        self._socket = socket
        self._next_id = 0

    async def call(self, method: str, **params) -> dict:
        """Send one DevTools command (`Page.navigate`, `Emulation.…`) and return its whole answer."""
        self._next_id += 1
        await self._socket.send_json({"id": self._next_id, "method": method, "params": params})
        while True:
            message = json.loads((await asyncio.wait_for(self._socket.receive(), 10)).data)
            if message.get("id") == self._next_id:
                return message

    async def evaluate(self, expression: str, **options):
        """The value of `expression` in the page. With `while_navigating=X`, X when the page is
        being replaced (the form was submitted) and the expression could not run."""
        message = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "while_navigating" in options and _navigating(message):
            return options["while_navigating"]
        assert "error" not in message and "exceptionDetails" not in message["result"], message
        return message["result"]["result"].get("value")

    async def location(self) -> str | None:
        """The page's URL once it has loaded (None while it is loading or being replaced)."""
        return await self.evaluate("document.readyState === 'complete' ? location.href : null",
                                   while_navigating=None)


def _navigating(message: dict) -> bool:
    error = message.get("error") or {}
    return "navigated" in error.get("message", "") or "Execution context was destroyed" in json.dumps(message)


@asynccontextmanager
async def devtools_page(tmp_path: Path, url: str, *args: str) -> AsyncIterator[DevToolsPage]:
    """Chromium (with the extra command-line `args`) opened at `url`, listening for the DevTools
    protocol on a port of its choosing."""
    assert CHROMIUM is not None, "CI=true: Chromium must be installed (.ci/run installs Debian's chromium)"
    profile = tmp_path / f"devtools-profile-{os.urandom(4).hex()}"
    process = subprocess.Popen([CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                                *args, url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    try:
        async with aiohttp.ClientSession() as http:
            active = profile / "DevToolsActivePort"

            async def port() -> int | None:
                assert process.poll() is None, f"chromium exited with {process.returncode}"
                lines = active.read_text().split() if active.exists() else []
                return int(lines[0]) if lines else None
            devtools = await eventually(port, bool, timeout=30, what="Chromium's DevTools port")

            async def page_target() -> str | None:
                async with http.get(f"http://127.0.0.1:{devtools}/json/list") as response:
                    targets = await response.json()
                return next((t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page"), None)
            target = await eventually(page_target, bool, what="the page target")
            async with http.ws_connect(target, max_msg_size=0) as socket:
                yield DevToolsPage(socket)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
