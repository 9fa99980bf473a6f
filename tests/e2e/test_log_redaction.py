"""Issue 11, item 4: nothing a client sent reaches the logs unredacted. A malformed request line or
header makes aiohttp's parser log the raw line (in its exception), token included; the service's
log filter redacts bearer tokens, `access_token=` values and Authorization headers from every
record, aiohttp's and gunicorn's own included. Driven through a real `payments serve` (one process,
and gunicorn workers) with a raw socket; the logs are the process's captured output."""
from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import aiohttp
import pytest

from entrypoints.logs import JsonFormatter, RedactingFilter, redact
from live import eventually, serve_process

SECRET_PARTS = ("eyJzZWNyZXQiOiJ0b2tlbi1ib2R5In0", "c2lnbmF0dXJlLXRoYXQtbXVzdC1ub3QtbGVhaw")
TOKEN = "eyJhbGciOiJIUzI1NiJ9.{}.{}".format(*SECRET_PARTS)
MALFORMED = [
    # a control byte after a bearer token
    f"GET /api/v1/payments/membership HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\x01\r\n\r\n",
    # an access_token query with one
    f"GET /api/v1/payments/sessions/ps_1/events?access_token={TOKEN}\x01 HTTP/1.1\r\nHost: x\r\n\r\n",
    # the token, then a bad header after it
    f"GET /api/v1/payments/membership HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nX-Bad\x01: 1\r\n\r\n",
    # an Authorization header without a scheme, in a request line that is itself broken
    f"GET /\x01 HTTP/1.1\r\nAuthorization: {TOKEN}\r\n\r\n",
]


async def send_raw(base_url: str, raw: str) -> bytes:
    url = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(url.hostname, url.port)
    try:
        writer.write(raw.encode("latin-1"))
        await writer.drain()
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()


@pytest.mark.parametrize("workers", [1, 2])
async def test_malformed_requests_never_put_the_clients_token_in_the_logs(tmp_path, workers):
    log_path = tmp_path / "server.log"
    async with aiohttp.ClientSession() as http, serve_process(http, tmp_path, workers=workers) as service:
        for raw in MALFORMED:
            answer = await send_raw(service.base_url, raw)
            assert answer.startswith(b"HTTP/1.") and b" 400 " in answer.split(b"\r\n", 1)[0], answer[:200]
        # each was logged (with the parser's exception), redacted
        await eventually(lambda: _async(log_path.read_text()), lambda text: text.count("Error handling request")
                         >= len(MALFORMED), what="the parser errors to be logged")
    logged = log_path.read_text()
    assert "[REDACTED]" in logged
    for part in SECRET_PARTS:
        assert part not in logged, [line for line in logged.splitlines() if part in line][:3]


async def _async(value):
    return value


@pytest.mark.parametrize("text", [
    f"Authorization: Bearer {TOKEN}\\x01",
    f"b'Authorization: bearer {TOKEN}\\x01more'",
    f"{{'Authorization': 'Basic {TOKEN}'}}",
    f"authorization={TOKEN}",
    f"GET /x?a=1&access_token={TOKEN}\\x01&b=2 HTTP/1.1",
    f"GET /x?access_token={TOKEN[:20]}%0a{TOKEN[20:]} HTTP/1.1",
    f'"Authorization":"Bearer {TOKEN}"',
])
def test_the_redaction_leaves_no_part_of_the_token(text):
    redacted = redact(text)
    assert "[REDACTED]" in redacted
    for part in SECRET_PARTS:
        assert part not in redacted, redacted


def test_every_field_of_a_record_is_redacted_the_exception_and_extras_included():
    record = logging.LogRecord("aiohttp.server", logging.ERROR, __file__, 1, "Error from %s", (f"Bearer {TOKEN}",),
                               None)
    try:
        raise ValueError(f"Invalid header: b'Authorization: Bearer {TOKEN}\\x01'")
    except ValueError:
        import sys
        record.exc_info = sys.exc_info()
    record.path = f"/x?access_token={TOKEN}"

    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)

    assert line.count("[REDACTED]") >= 3
    for part in SECRET_PARTS:
        assert part not in line
