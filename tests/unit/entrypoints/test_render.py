"""The QR code image of a session: an SVG that a scanner reads back as the payload.

There is no SVG rasteriser here, so the test draws the path the way an SVG renderer does for
this one shape (a 1-unit stroke from (x, y + 0.5) for `h` units covers the modules x … x+h-1 of
row y) and lets zxing-cpp, an independent decoder, read the bitmap."""
from __future__ import annotations

import base64
import re

import pytest
import zxingcpp

from entrypoints.http.render import qr_code_image

SCALE = 4  # pixels per module, as a screen would show it


def rasterise(data_uri: str) -> memoryview:
    prefix = "data:image/svg+xml;base64,"
    assert data_uri.startswith(prefix)
    svg = base64.b64decode(data_uri[len(prefix):]).decode()
    width, height = map(int, re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    strokes = re.search(r'<path stroke="#000" transform="translate\(0 \.5\)" d="([^"]*)"/>', svg).group(1)
    modules = [[255] * width for _ in range(height)]
    for x, y, length in re.findall(r"M(\d+) (\d+)h(\d+)", strokes):
        for column in range(int(x), int(x) + int(length)):
            modules[int(y)][column] = 0
    pixels = bytes(value for row in modules for _ in range(SCALE) for value in row for _ in range(SCALE))
    return memoryview(pixels).cast("B", shape=[height * SCALE, width * SCALE])


@pytest.mark.parametrize("payload", [
    "http://127.0.0.1:8080/mock-checkout/ps_b20aa87701f5235902ffe4e4",
    "weixin://wxpay/bizpayurl?pr=AbCdEf1",
    "https://qr.alipay.com/bax08431yq0kxiteyqbx00a6",
])
def test_the_qr_code_image_reads_back_as_its_payload(payload: str) -> None:
    image = qr_code_image(payload)
    found = zxingcpp.read_barcodes(rasterise(image))
    assert [barcode.text for barcode in found] == [payload]
    assert len(image) < 3500  # about 2.5 KB for a checkout URL: it travels in every session answer
