"""Stripe's request encoding (PROTOCOLS.md §4.1): `application/x-www-form-urlencoded` with bracket
notation for nested values (`line_items[0][price_data][currency]=cny`, `metadata[order_id]=…`),
booleans as `true`/`false`, absent (None) values left out, and `[`/`]` left unescaped in keys, as
Stripe's own library sends them (its private `_api_encode` is the tests' oracle)."""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlencode


def form_pairs(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """The flat `(key, value)` pairs of nested `params`, in order."""
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        yield from _pairs(name, value)


def _pairs(name: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, Mapping):
        yield from form_pairs(value, name)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _pairs(f"{name}[{index}]", item)
    elif isinstance(value, bool):
        yield name, "true" if value else "false"
    elif isinstance(value, (int, str)):
        yield name, str(value)
    else:  # floats above all: no money, nor anything else, is sent as one
        raise TypeError(f"cannot send {name} as {type(value).__name__}")


def encode(params: Mapping[str, Any]) -> bytes:
    """The request body of `params`."""
    return urlencode(list(form_pairs(params))).replace("%5B", "[").replace("%5D", "]").encode()
