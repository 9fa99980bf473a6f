"""`Stripe-Signature` webhook signatures (PROTOCOLS.md §4.6): `t=<unix>,v1=<hex>[,v1=…][,v0=…]`,
where each `v1` is hex(HMAC-SHA256(endpoint secret, f"{t}.{raw body}")). A notification is
authentic when any `v1` matches any of our secrets (rotation: Stripe signs with every secret of the
endpoint that is still valid, and we accept any of ours); every other scheme is ignored. Fresh when
`t` is at most 300 s from now either way (Stripe's SDK checks only the past)."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from domain.errors import InvalidSignatureError
from ports.payment_provider import FRESHNESS_SECONDS

HEADER = "Stripe-Signature"
SCHEME = "v1"


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The hex `v1` signature of `body` sent at `timestamp`."""
    return hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def header(secrets: Iterable[str], body: bytes, timestamp: int) -> str:
    """A whole `Stripe-Signature` value, one `v1` per secret (what Stripe sends during a rotation)."""
    return ",".join([f"t={timestamp}", *(f"{SCHEME}={sign(s, body, timestamp)}" for s in secrets)])


def header_value(headers: Mapping[str, str]) -> str | None:
    """The `Stripe-Signature` header, its name matched in any case."""
    wanted = HEADER.lower()
    return next((value for name, value in headers.items() if name.lower() == wanted), None)


def verify(headers: Mapping[str, str], body: bytes, secrets: Iterable[str], now: int) -> int:
    """Check the signature and its freshness; the signed time. Raises `InvalidSignatureError`."""
    value = header_value(headers)
    if not value or not value.isascii():
        raise InvalidSignatureError(f"Missing or unreadable {HEADER} header.")
    timestamp: int | None = None
    signatures: list[bytes] = []
    for item in value.split(","):
        key, _, part = item.strip().partition("=")
        if key == "t" and part.isdigit() and timestamp is None:
            timestamp = int(part)
        elif key == SCHEME and part:
            signatures.append(part.encode())
    if timestamp is None or not signatures:
        raise InvalidSignatureError(f"{HEADER} has no timestamp or no v1 signature.")
    expected = [sign(secret, body, timestamp).encode() for secret in secrets]
    # every comparison is made (no early exit), each in constant time
    matched = [hmac.compare_digest(given, wanted) for given in signatures for wanted in expected]
    if not any(matched):
        raise InvalidSignatureError(f"No {HEADER} v1 signature matches a webhook secret.")
    if abs(now - timestamp) > FRESHNESS_SECONDS:
        raise InvalidSignatureError(f"{HEADER} timestamp is more than {FRESHNESS_SECONDS} s from now.")
    return timestamp
