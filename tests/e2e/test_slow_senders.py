"""Issue 11, item 7: a slow sender cannot hold a connection. Headers must arrive within
PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS and a body within PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS (here 1 s
each, so the test is quick); a sender trickling one byte at a time is answered 400 and cut off.
Driven through a real `payments serve` (one process, and gunicorn workers) with a raw socket."""
from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
from urllib.parse import urlsplit

import aiohttp
import pytest

from live import PAYMENTS_BIN, serve_process

LIMITS = {"PAYMENTS_HTTP_HEADER_TIMEOUT_SECONDS": "1", "PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS": "1"}
GIVE_UP = 8.0  # far above the limits, far below the minutes a trickle would take


@pytest.fixture(params=[1, 2], ids=["one-process", "gunicorn"])
async def service(request, tmp_path):
    async with aiohttp.ClientSession() as http, \
            serve_process(http, tmp_path, workers=request.param, **LIMITS) as running:
        yield running


async def trickle(base_url: str, head: bytes, rest: bytes, every: float = 0.2) -> tuple[bytes, float]:
    """Send `head` at once, then `rest` one byte per `every` seconds; what the server answered and
    how long it kept the connection open (bounded by GIVE_UP)."""
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    started = time.monotonic()

    async def send() -> None:
        writer.write(head)
        for byte in rest:
            await asyncio.sleep(every)
            writer.write(bytes([byte]))
            await writer.drain()

    async def receive() -> bytes:
        # Chunk by chunk, so what arrived is kept when the close ends in a reset (a byte we sent
        # after the server closed is answered with RST); `reader.read()` would drop it all.
        chunks = []
        try:
            while chunk := await reader.read(65536):
                chunks.append(chunk)
        except ConnectionResetError:
            pass
        return b"".join(chunks)

    sending = asyncio.create_task(send())
    try:
        answer = await asyncio.wait_for(receive(), GIVE_UP)  # until the server closes the connection
    except asyncio.TimeoutError:
        answer = b"<still open>"
    finally:
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        writer.close()
    return answer, time.monotonic() - started


async def test_a_webhook_body_sent_a_byte_at_a_time_is_cut_off_at_the_body_limit(service):
    body = json.dumps({"event": "x" * 200}).encode()
    head = (f"POST /api/v1/payments/webhooks/mock HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()

    answer, held = await trickle(service.base_url, head, body)

    assert held < 4, (held, answer[:200])
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"400", answer[:300]
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["error"]["code"] == "malformed_json"


async def test_an_api_body_sent_a_byte_at_a_time_is_cut_off_too(service):
    body = json.dumps({"amount": 10, "payment_method": "wechat_pay", "pad": "x" * 100}).encode()
    head = (f"POST /api/v1/payments/receives HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {service.token()}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()

    answer, held = await trickle(service.base_url, head, body)

    assert held < 4 and b" 400 " in answer.partition(b"\r\n")[0], (held, answer[:300])
    # nothing was bought
    assert (await service.get("/api/v1/payments/transactions"))["total"] == 0


async def test_headers_sent_a_byte_at_a_time_are_cut_off_at_the_header_limit(service):
    head = b"GET /api/v1/payments/pricing HTTP/1.1\r\nHost: x\r\n"

    answer, held = await trickle(service.base_url, head, b"X-Slow: " + b"y" * 100 + b"\r\n\r\n")

    assert held < 4, (held, answer[:200])
    assert b"200 OK" not in answer


async def test_a_request_sent_at_once_is_answered_as_before(service):
    assert (await service.get("/api/v1/payments/pricing"))["currency"] == "CNY"
    assert (await service.post("/api/v1/payments/receives", {"amount": 10, "payment_method": "wechat_pay"},
                               expect=201))["session"]["status"] == "open"


def test_serve_refuses_a_limit_that_is_not_a_number_of_seconds_in_one_line(tmp_path):
    env = {**os.environ, "PAYMENTS_DATABASE_URL": f"sqlite:///{tmp_path}/payments.db",
           "PAYMENTS_MOCK_STATE_PATH": str(tmp_path / "mock.sqlite3"), "PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS": "soon"}
    done = subprocess.run([str(PAYMENTS_BIN), "serve", "--port", "1"], env=env, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "payments: cannot start: PAYMENTS_HTTP_BODY_TIMEOUT_SECONDS must be a number of seconds between 0 and 3600,"
        " not 'soon'"]
