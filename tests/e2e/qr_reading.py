"""Reads QR code images back (an independent decoder, zxing-cpp's reader): SVG data URIs drawn as
paths of dark runs (the service's session answers) or of dark rectangles (zxing-cpp's own SVG, the
mock's checkout page). There is no SVG rasteriser here, so the path is filled the way a renderer
fills these two shapes."""
from __future__ import annotations

import base64
import re

import zxingcpp

SCALE = 4  # pixels per module, as a screen would show it
_PREFIX = "data:image/svg+xml;base64,"


def read_qr(data_uri: str) -> list[str]:
    """The texts of the QR codes in the image."""
    assert data_uri.startswith(_PREFIX), data_uri[:40]
    svg = base64.b64decode(data_uri[len(_PREFIX):]).decode()
    width, height = map(int, re.search(r'viewBox="0 0 (\d+) (\d+)"', svg).groups())
    modules = [[255] * width for _ in range(height)]
    for attributes, path in re.findall(r'<path([^>]*?)d="([^"]*)"', svg):
        if 'fill="#fff"' in attributes.lower():
            continue  # the light background
        # a dark run `M x y h w` (a 1-unit stroke along row y) or rectangle `M x y h w v h h-w Z`
        for x, y, w, h in re.findall(r"M(\d+) (\d+)h(\d+)(?:v(\d+)h-\d+Z)?", path):
            for row in range(int(y), int(y) + int(h or 1)):
                for column in range(int(x), int(x) + int(w)):
                    modules[row][column] = 0
    pixels = bytes(value for row in modules for _ in range(SCALE) for value in row for _ in range(SCALE))
    image = memoryview(pixels).cast("B", shape=[height * SCALE, width * SCALE])
    return [barcode.text for barcode in zxingcpp.read_barcodes(image)]
